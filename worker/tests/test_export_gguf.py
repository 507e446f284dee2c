"""The GGUF LoRA adapter: format, names, shapes, q/k permutation, alpha scaling and refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import load_file

from understudy_worker.errors import ExportError
from understudy_worker.export_gguf import (
    BaseLayout,
    check_lora_config,
    export_peft_dir,
    gguf_alpha,
    gguf_weight_name,
    permute_rows,
    unpermute_rows,
    write_lora_gguf,
)
from worker_cli import WorkerRun

LAYER_STEMS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
LLAMA_LAYOUT = BaseLayout(architecture="llama", n_head=2, n_head_kv=1, permute_qk=True, tied_embeddings=True)


def field_value(reader: GGUFReader, key: str) -> Any:
    return reader.fields[key].contents()


def lora_config(**overrides: Any) -> dict[str, Any]:
    return {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "bias": "none", "use_dora": False, "use_rslora": False,
            "target_modules": ["q_proj", "k_proj", "v_proj"], **overrides}


def tiny_state_dict(rank: int = 2) -> dict[str, np.ndarray]:
    """One layer of a toy llama: hidden 8, 2 heads of 4, 1 kv head."""
    rng = np.random.default_rng(0)
    state = {}
    for module, out_features in (("q_proj", 8), ("k_proj", 4), ("v_proj", 4)):
        prefix = f"base_model.model.model.layers.0.self_attn.{module}"
        state[f"{prefix}.lora_A.weight"] = rng.standard_normal((rank, 8)).astype(np.float32)
        state[f"{prefix}.lora_B.weight"] = rng.standard_normal((out_features, rank)).astype(np.float32)
    return state


def test_permutation_follows_the_llama_cpp_convention_on_a_known_tensor() -> None:
    rows = np.arange(8)[:, None] * np.ones((1, 3))
    # Two heads of four rows: within each head the two rotary halves are interleaved (0 2 1 3).
    assert permute_rows(rows, n_head=2)[:, 0].tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    assert permute_rows(rows, n_head=1)[:, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


def test_unpermute_inverts_permute() -> None:
    weight = np.random.default_rng(1).standard_normal((576, 40))
    for n_head in (9, 3, 1):
        assert np.array_equal(unpermute_rows(permute_rows(weight, n_head), n_head), weight)
        assert np.array_equal(permute_rows(unpermute_rows(weight, n_head), n_head), weight)
    with pytest.raises(ExportError):
        permute_rows(np.zeros((6, 2)), n_head=2)


def test_permuting_lora_b_permutes_the_weight_delta() -> None:
    rng = np.random.default_rng(2)
    lora_a, lora_b = rng.standard_normal((4, 16)), rng.standard_normal((12, 4))
    assert np.allclose(permute_rows(lora_b, 3) @ lora_a, permute_rows(lora_b @ lora_a, 3))


def test_real_base_q_and_k_are_stored_permuted_relative_to_transformers(gguf_path: str, base_model: Any) -> None:
    """Ties the convention to the real file: permute(HF weight) == the GGUF tensor llama.cpp runs."""
    reader = GGUFReader(gguf_path)
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    layer = base_model.model.layers[3].self_attn
    config = base_model.config
    for name, module, n_head in (
        ("blk.3.attn_q.weight", layer.q_proj, config.num_attention_heads),
        ("blk.3.attn_k.weight", layer.k_proj, config.num_key_value_heads),
    ):
        stored = dequantize(tensors[name].data, tensors[name].tensor_type).reshape(module.weight.shape)
        hf_weight = module.weight.detach().numpy()
        assert np.array_equal(permute_rows(hf_weight, n_head), stored)
        assert not np.array_equal(hf_weight, stored)


def test_layout_from_the_gguf_agrees_with_the_transformers_config(gguf_path: str, base_model: Any) -> None:
    from_gguf = BaseLayout.from_gguf(gguf_path)
    from_config = BaseLayout.from_hf_config(base_model.config)
    assert (from_gguf.architecture, from_gguf.n_head, from_gguf.n_head_kv, from_gguf.permute_qk) == ("llama", 9, 3, True)
    assert (from_config.architecture, from_config.n_head, from_config.n_head_kv) == ("llama", 9, 3)
    assert from_gguf.tied_embeddings and from_config.tied_embeddings


def test_trained_adapter_reads_back_with_the_right_kv_names_and_shapes(gguf_path: str, trained: tuple[WorkerRun, Path]) -> None:
    _, output_dir = trained
    reader = GGUFReader(str(output_dir / "adapter.gguf"))
    assert field_value(reader, "general.type") == "adapter"
    assert field_value(reader, "general.architecture") == "llama"
    assert field_value(reader, "adapter.type") == "lora"
    assert field_value(reader, "adapter.lora.alpha") == pytest.approx(16.0)

    base = {tensor.name: tensor for tensor in GGUFReader(gguf_path).tensors}
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    expected = {f"blk.{layer}.{stem}.weight.lora_{part}" for layer in range(30) for stem in LAYER_STEMS for part in "ab"}
    assert set(tensors) == expected
    for name in {name.rsplit(".", 1)[0] for name in expected}:
        lora_a, lora_b, weight = tensors[f"{name}.lora_a"], tensors[f"{name}.lora_b"], base[name]
        assert lora_a.tensor_type.name == "F32" and lora_b.tensor_type.name == "F32"
        out_features, in_features = int(weight.shape[1]), int(weight.shape[0])  # GGUF shapes are ne order
        assert lora_a.data.shape == (8, in_features)
        assert lora_b.data.shape == (out_features, 8)
        # llama.cpp's own checks, in ne order.
        assert weight.shape[0] == lora_a.shape[0] and weight.shape[1] == lora_b.shape[1] and lora_a.shape[1] == lora_b.shape[0]

    peft = load_file(str(output_dir / "peft" / "adapter_model.safetensors"))
    prefix = "base_model.model.model.layers.5"
    assert np.array_equal(tensors["blk.5.attn_q.weight.lora_b"].data, permute_rows(peft[f"{prefix}.self_attn.q_proj.lora_B.weight"], 9))
    assert np.array_equal(tensors["blk.5.attn_k.weight.lora_b"].data, permute_rows(peft[f"{prefix}.self_attn.k_proj.lora_B.weight"], 3))
    assert np.array_equal(tensors["blk.5.attn_v.weight.lora_b"].data, peft[f"{prefix}.self_attn.v_proj.lora_B.weight"])
    assert np.array_equal(tensors["blk.5.attn_q.weight.lora_a"].data, peft[f"{prefix}.self_attn.q_proj.lora_A.weight"])
    assert np.array_equal(tensors["blk.5.ffn_down.weight.lora_a"].data, peft[f"{prefix}.mlp.down_proj.lora_A.weight"])


def test_standalone_export_of_a_peft_dir_matches_the_training_export(gguf_path: str, trained: tuple[WorkerRun, Path], tmp_path: Path) -> None:
    _, output_dir = trained
    summary = export_peft_dir(output_dir / "peft", tmp_path / "again.gguf", BaseLayout.from_gguf(gguf_path))
    assert len(summary.tensor_names) == 420 and summary.alpha == 16
    ours = {tensor.name: np.array(tensor.data) for tensor in GGUFReader(str(output_dir / "adapter.gguf")).tensors}
    again = {tensor.name: np.array(tensor.data) for tensor in GGUFReader(str(tmp_path / "again.gguf")).tensors}
    assert ours.keys() == again.keys() and all(np.array_equal(ours[name], again[name]) for name in ours)


def test_rslora_alpha_is_scaled_so_llama_cpp_applies_alpha_over_sqrt_r(tmp_path: Path) -> None:
    assert gguf_alpha(lora_config(r=16, lora_alpha=32)) == 32
    assert gguf_alpha(lora_config(r=16, lora_alpha=32, use_rslora=True)) == pytest.approx(128)
    config = lora_config(r=2, lora_alpha=4, use_rslora=True)
    summary = write_lora_gguf(tiny_state_dict(), config, tmp_path / "rs.gguf", LLAMA_LAYOUT)
    alpha = field_value(GGUFReader(str(tmp_path / "rs.gguf")), "adapter.lora.alpha")
    assert alpha == pytest.approx(summary.alpha) == pytest.approx(4 * math.sqrt(2))
    # llama.cpp's scale alpha / r equals PEFT's rsLoRA scale alpha / sqrt(r).
    assert alpha / 2 == pytest.approx(4 / math.sqrt(2))


def test_tiny_adapter_permutes_q_and_k_with_their_own_head_counts(tmp_path: Path) -> None:
    state = tiny_state_dict()
    write_lora_gguf(state, lora_config(), tmp_path / "tiny.gguf", LLAMA_LAYOUT)
    tensors = {tensor.name: np.array(tensor.data) for tensor in GGUFReader(str(tmp_path / "tiny.gguf")).tensors}
    prefix = "base_model.model.model.layers.0.self_attn"
    assert np.array_equal(tensors["blk.0.attn_q.weight.lora_b"], permute_rows(state[f"{prefix}.q_proj.lora_B.weight"], 2))
    assert np.array_equal(tensors["blk.0.attn_k.weight.lora_b"], permute_rows(state[f"{prefix}.k_proj.lora_B.weight"], 1))
    assert np.array_equal(tensors["blk.0.attn_v.weight.lora_b"], state[f"{prefix}.v_proj.lora_B.weight"])
    assert not (tmp_path / "tiny.gguf.partial").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"use_dora": True}, "DoRA"),
        ({"bias": "lora_only"}, "bias"),
        ({"bias": "all"}, "bias"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"target_modules": ["q_proj", "embed_tokens"]}, "embedding"),
        ({"alpha_pattern": {"q_proj": 8}}, "alpha"),
        ({"peft_type": "IA3"}, "LoRA"),
    ],
)
def test_unexportable_adapters_are_refused_with_a_clear_error(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ExportError, match=message):
        check_lora_config(lora_config(**overrides))


def test_dora_tensors_and_embedding_targets_are_refused_at_write_time(tmp_path: Path) -> None:
    state = tiny_state_dict()
    state["base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"] = np.ones(8, dtype=np.float32)
    with pytest.raises(ExportError, match="DoRA"):
        write_lora_gguf(state, lora_config(), tmp_path / "dora.gguf", LLAMA_LAYOUT)
    with pytest.raises(ExportError, match="DoRA"):
        write_lora_gguf(tiny_state_dict(), lora_config(use_dora=True), tmp_path / "dora.gguf", LLAMA_LAYOUT)
    assert not (tmp_path / "dora.gguf").exists()
    with pytest.raises(ExportError, match="embedding"):
        gguf_weight_name("base_model.model.model.embed_tokens", LLAMA_LAYOUT)


def test_module_names_map_to_gguf_tensors() -> None:
    assert gguf_weight_name("base_model.model.model.layers.12.self_attn.o_proj", LLAMA_LAYOUT) == "blk.12.attn_output.weight"
    assert gguf_weight_name("model.layers.0.mlp.gate_proj", LLAMA_LAYOUT) == "blk.0.ffn_gate.weight"
    untied = BaseLayout(architecture="llama", n_head=2, n_head_kv=1, permute_qk=True, tied_embeddings=False)
    assert gguf_weight_name("base_model.model.lm_head", untied) == "output.weight"
    with pytest.raises(ExportError, match="tied embeddings"):
        gguf_weight_name("base_model.model.lm_head", LLAMA_LAYOUT)
    with pytest.raises(ExportError, match="no GGUF tensor"):
        gguf_weight_name("model.layers.0.self_attn.rotary_emb", LLAMA_LAYOUT)


def test_standalone_cli_writes_an_adapter(gguf_path: str, trained: tuple[WorkerRun, Path], tmp_path: Path) -> None:
    import subprocess
    import sys

    from worker_cli import worker_env

    _, output_dir = trained
    completed = subprocess.run(
        [sys.executable, "-m", "understudy_worker.export_gguf", str(output_dir / "peft"), str(tmp_path / "cli.gguf"), "--base-gguf", gguf_path],
        env=worker_env(), capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["tensors"] == 420
