"""Gemma 3 270M, the second offline base: LoRA SFT for 2 steps and a GGUF LoRA adapter for llama.cpp's `gemma3`.

Gemma 3 differs from the llama family where the export could go wrong: llama.cpp's converter does not permute its
q/k rows (so neither may the adapter's lora_b), its GGUF has no chat template (Understudy supplies Gemma's turn
format), it ties the output layer to the embedding, and its turns end with `<end_of_turn>`, which the completion-only
loss must train so the model learns to stop. llama.cpp loading this adapter is checked by test/parity.test.ts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gguf import GGUFReader
from safetensors.numpy import load_file

from training_data import banking_records, train_spec, write_jsonl
from understudy_worker.errors import ExportError
from understudy_worker.export_gguf import BaseLayout, gguf_weight_name
from worker_cli import WorkerRun, run_worker

# A copy of GEMMA_CHAT_TEMPLATE in src/core/chat-template.ts, which the TypeScript side passes for this base (the
# parity test checks that one against llama.cpp token by token).
GEMMA_CHAT_TEMPLATE = (
    '{{ bos_token }}'
    "{% if messages[0]['role'] == 'system' %}{% set first_user_prefix = messages[0]['content'] + '\\n\\n' %}{% set loop_messages = messages[1:] %}"
    "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
    '{% for message in loop_messages %}'
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') + (message['content'] | trim) + '<end_of_turn>\\n' }}"
    '{% endfor %}'
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)
LAYER_STEMS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
GEMMA_LAYERS = 18


@pytest.fixture(scope="module")
def gemma_trained(tmp_path_factory: pytest.TempPathFactory, gemma_gguf_path: str) -> tuple[WorkerRun, Path]:
    """One real `train-sft` on Gemma 3 270M: 8 examples, 2 steps of batch 4."""
    directory = tmp_path_factory.mktemp("gemma")
    records = [record for index, record in enumerate(banking_records()) if index != 2][:8]
    train_path = write_jsonl(directory / "train.jsonl", records)
    spec = train_spec({"kind": "gguf", "path": gemma_gguf_path}, train_path, directory / "out", GEMMA_CHAT_TEMPLATE, maxSteps=2, loggingSteps=1)
    run = run_worker("train-sft", spec, directory)
    assert run.returncode == 0, f"train-sft on Gemma failed: {run.events[-1:]}\n{run.stderr[-4000:]}"
    return run, directory / "out"


def test_gemma_trains_two_steps_with_its_end_of_turn_in_the_loss(gemma_trained: tuple[WorkerRun, Path]) -> None:
    run, output_dir = gemma_trained
    done = run.one("done")
    assert done["steps"] == 2 and done["truncatedExamples"] == 0
    assert [event["step"] for event in run.of("progress")] == [1, 2]
    assert all(np.isfinite(event["loss"]) and event["loss"] > 0 for event in run.of("progress"))
    messages = [event["message"] for event in run.of("log")]
    assert any("gemma3" in message for message in messages), messages
    # The completion-only loss covers the answer and the <end_of_turn> after it.
    assert any("completions end with '<end_of_turn>'" in message for message in messages), messages
    peft_dir = output_dir / "peft"
    saved = (peft_dir / "chat_template.jinja").read_text() if (peft_dir / "chat_template.jinja").is_file() else json.loads((peft_dir / "tokenizer_config.json").read_text())["chat_template"]
    assert saved == GEMMA_CHAT_TEMPLATE


def test_gemma_layout_is_unpermuted_with_tied_embeddings(gemma_gguf_path: str) -> None:
    layout = BaseLayout.from_gguf(gemma_gguf_path)
    assert (layout.architecture, layout.n_head, layout.n_head_kv, layout.permute_qk, layout.tied_embeddings) == ("gemma3", 4, 1, False, True)
    text = BaseLayout.from_hf_config({"model_type": "gemma3_text", "num_attention_heads": 4, "num_key_value_heads": 1, "tie_word_embeddings": True})
    multimodal = BaseLayout.from_hf_config({"model_type": "gemma3", "text_config": {"num_attention_heads": 8, "num_key_value_heads": 4}})
    assert (text.architecture, text.permute_qk, text.tied_embeddings) == ("gemma3", False, True)
    assert (multimodal.architecture, multimodal.n_head, multimodal.n_head_kv, multimodal.tied_embeddings) == ("gemma3", 8, 4, True)
    with pytest.raises(ExportError, match="tied embeddings"):
        gguf_weight_name("base_model.model.lm_head", layout)
    # A multimodal Gemma's text decoder maps to blk.N; its vision tower's layers must not.
    assert gguf_weight_name("base_model.model.model.language_model.layers.2.mlp.up_proj", layout) == "blk.2.ffn_up.weight"
    with pytest.raises(ExportError, match="no GGUF tensor"):
        gguf_weight_name("base_model.model.model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj", layout)


def test_gemma_adapter_gguf_matches_the_base_tensors_without_permutation(gemma_gguf_path: str, gemma_trained: tuple[WorkerRun, Path]) -> None:
    _, output_dir = gemma_trained
    reader = GGUFReader(str(output_dir / "adapter.gguf"))

    def field(key: str) -> Any:
        return reader.fields[key].contents()

    assert (field("general.type"), field("general.architecture"), field("adapter.type")) == ("adapter", "gemma3", "lora")
    assert field("adapter.lora.alpha") == pytest.approx(16.0)
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    expected = {f"blk.{layer}.{stem}.weight.lora_{part}" for layer in range(GEMMA_LAYERS) for stem in LAYER_STEMS for part in "ab"}
    assert set(tensors) == expected
    base = {tensor.name: tensor for tensor in GGUFReader(gemma_gguf_path).tensors}
    for name in {name.rsplit(".", 1)[0] for name in expected}:
        lora_a, lora_b, weight = tensors[f"{name}.lora_a"], tensors[f"{name}.lora_b"], base[name]
        # llama.cpp's adapter checks, in ne order: A is [in, r], B is [r, out] against the base weight [in, out].
        assert weight.shape[0] == lora_a.shape[0] and weight.shape[1] == lora_b.shape[1] and lora_a.shape[1] == lora_b.shape[0] == 8
    peft = load_file(str(output_dir / "peft" / "adapter_model.safetensors"))
    prefix = "base_model.model.model.layers.4.self_attn"
    # gemma3 is not a permuted architecture: q/k lora_b rows stay in HF order.
    for stem, module in (("attn_q", "q_proj"), ("attn_k", "k_proj"), ("attn_v", "v_proj")):
        assert np.array_equal(tensors[f"blk.4.{stem}.weight.lora_b"].data, peft[f"{prefix}.{module}.lora_B.weight"])
        assert np.array_equal(tensors[f"blk.4.{stem}.weight.lora_a"].data, peft[f"{prefix}.{module}.lora_A.weight"])
