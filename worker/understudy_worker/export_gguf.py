"""Write a PEFT LoRA adapter as a GGUF LoRA adapter that llama.cpp applies on top of its base model.

The format, as llama.cpp's adapter loader reads it:
- KV `general.type` = "adapter", `general.architecture` = the base's architecture (must equal the model's),
  `adapter.type` = "lora", `adapter.lora.alpha` (float32).
- For each adapted weight `W` named `blk.N.attn_q.weight` etc. in the base GGUF, two F32 tensors
  `blk.N.attn_q.weight.lora_a` (numpy shape [r, in]) and `....lora_b` (numpy shape [out, r]).
- llama.cpp adds `scale * B @ (A @ x)` with `scale = user_scale * alpha / r` (r read from lora_b), so PEFT's
  `alpha / r` scaling needs alpha as is, and rsLoRA's `alpha / sqrt(r)` needs `alpha * sqrt(r)` written.

Llama-family GGUF files store q/k weight rows permuted (the HF→GGUF rotary layout change) and transformers
undoes that permutation when it loads a GGUF, so an adapter trained in transformers has q/k rows in HF order:
`lora_b` of q_proj/k_proj gets the same row permutation (A acts on the input side, which is not permuted).
Only llama.cpp's llama-family converter permutes; Qwen2 and Gemma 3 keep HF row order. (Gemma's converter adds 1
to RMSNorm weights, which LoRA never targets.) Gemma 3 ties its output layer to the token embedding.

Usable on its own: `python -m understudy_worker.export_gguf PEFT_DIR OUT.gguf --base-gguf BASE.gguf`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .errors import ExportError

if TYPE_CHECKING:
    import numpy as np

# HF model type -> (GGUF architecture, whether llama.cpp's converter permutes q/k rows).
HF_MODEL_TYPES: dict[str, tuple[str, bool]] = {
    "llama": ("llama", True),
    "mistral": ("llama", True),
    "qwen2": ("qwen2", False),
    # Gemma 3: the text-only model (270M, 1B) and the multimodal one, whose text backbone llama.cpp runs.
    "gemma3_text": ("gemma3", False),
    "gemma3": ("gemma3", False),
}
# GGUF architecture -> whether its q/k rows are permuted relative to HF.
GGUF_ARCHITECTURES: dict[str, bool] = {"llama": True, "qwen2": False, "gemma3": False}

# HF module path inside a decoder layer -> GGUF tensor stem inside `blk.N`.
LAYER_MODULES: dict[str, str] = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
EMBEDDING_MODULES = ("embed_tokens", "wte", "word_embeddings")

# Decoder layers of the language model only: `model.layers.N` (causal LMs) or `model.language_model.layers.N`
# (multimodal Gemma 3). A vision tower's `...encoder.layers.N.self_attn.q_proj` must not match: llama.cpp's
# `blk.N` tensors are the text decoder's.
_LAYER_MODULE = re.compile(
    r"^(?:model\.|model\.language_model\.|language_model\.(?:model\.)?)?layers\.(\d+)\.("
    + "|".join(re.escape(key) for key in LAYER_MODULES)
    + r")$"
)
_ADAPTER_KEY = re.compile(r"^(?:base_model\.model\.)?(.+)\.lora_([AB])\.weight$")

# adapter_config.json keys whose non-default values change what the adapter computes in ways a plain
# GGUF LoRA (W + alpha/r * B A) cannot express.
_UNSUPPORTED_OPTIONS: dict[str, str] = {
    "use_dora": "DoRA adds a learned magnitude vector that llama.cpp's LoRA path does not apply",
    "lora_bias": "a LoRA bias term has no place in a GGUF LoRA adapter",
    "modules_to_save": "fully trained module copies (modules_to_save) cannot be expressed as a LoRA adapter",
    "trainable_token_indices": "trained embedding rows cannot be expressed as a GGUF LoRA adapter",
    "rank_pattern": "per-module ranks (rank_pattern) are not supported by this exporter",
    "alpha_pattern": "per-module alphas (alpha_pattern) cannot be expressed: llama.cpp has one alpha per adapter",
    "fan_in_fan_out": "fan_in_fan_out (Conv1D-style weights) is not supported",
    "layer_replication": "layer replication changes the model's layer count",
    "target_parameters": "LoRA on raw parameters (target_parameters) is not supported",
    "use_qalora": "QA-LoRA pools the input before A, which llama.cpp does not do",
    "use_bdlora": "block-diagonal LoRA is not supported",
    "alora_invocation_tokens": "activated LoRA (aLoRA) is not supported by this exporter",
}


@dataclass(frozen=True)
class BaseLayout:
    """What the exporter needs to know about the base model llama.cpp will run."""

    architecture: str
    n_head: int
    n_head_kv: int
    permute_qk: bool
    tied_embeddings: bool
    # GGUF tensor names of the base, when the base is a GGUF file: every exported tensor must name one.
    tensor_names: frozenset[str] | None = None

    @classmethod
    def from_gguf(cls, path: str | os.PathLike[str]) -> BaseLayout:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))

        def field(key: str) -> Any:
            entry = reader.fields.get(key)
            return None if entry is None else entry.contents()

        architecture = field("general.architecture")
        if architecture not in GGUF_ARCHITECTURES:
            raise ExportError(
                f"GGUF LoRA export supports base architectures {sorted(GGUF_ARCHITECTURES)}; {path} is {architecture!r}"
            )
        n_head = field(f"{architecture}.attention.head_count")
        n_head_kv = field(f"{architecture}.attention.head_count_kv")
        if not isinstance(n_head, int):
            raise ExportError(f"{path}: {architecture}.attention.head_count is missing or not a single integer")
        names = frozenset(tensor.name for tensor in reader.tensors)
        return cls(
            architecture=architecture,
            n_head=n_head,
            n_head_kv=n_head_kv if isinstance(n_head_kv, int) else n_head,
            permute_qk=GGUF_ARCHITECTURES[architecture],
            tied_embeddings="output.weight" not in names,
            tensor_names=names,
        )

    @classmethod
    def from_hf_config(cls, config: Any) -> BaseLayout:
        """From a transformers config object or a config.json dict."""
        values = config if isinstance(config, Mapping) else config.to_dict()
        model_type = values.get("model_type")
        if model_type not in HF_MODEL_TYPES:
            raise ExportError(f"GGUF LoRA export supports model types {sorted(HF_MODEL_TYPES)}; the base is {model_type!r}")
        architecture, permute_qk = HF_MODEL_TYPES[model_type]
        text_config = values.get("text_config")
        if isinstance(text_config, Mapping):
            # A multimodal config: the heads are the text decoder's; tying is declared on either level.
            tied_default = values.get("tie_word_embeddings", True)
            values = {**text_config, "tie_word_embeddings": text_config.get("tie_word_embeddings", tied_default)}
        n_head = int(values["num_attention_heads"])
        return cls(
            architecture=architecture,
            n_head=n_head,
            n_head_kv=int(values.get("num_key_value_heads") or n_head),
            permute_qk=permute_qk,
            tied_embeddings=bool(values.get("tie_word_embeddings", False)),
        )


@dataclass(frozen=True)
class ExportSummary:
    path: str
    architecture: str
    alpha: float
    rank: int
    tensor_names: tuple[str, ...]


def permute_rows(weight: np.ndarray, n_head: int) -> np.ndarray:
    """HF → GGUF row order of a llama q/k projection (or of its LoRA B): within each head, interleave the two rotary halves."""
    rows = weight.shape[0]
    if rows % (2 * n_head) != 0:
        raise ExportError(f"cannot permute {rows} rows over {n_head} heads: rows must divide into 2 * n_head")
    return weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def unpermute_rows(weight: np.ndarray, n_head: int) -> np.ndarray:
    """GGUF → HF row order; the inverse of `permute_rows` (what transformers applies when it loads a GGUF)."""
    rows = weight.shape[0]
    if rows % (2 * n_head) != 0:
        raise ExportError(f"cannot un-permute {rows} rows over {n_head} heads: rows must divide into 2 * n_head")
    return weight.reshape(n_head, rows // n_head // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def gguf_weight_name(module_name: str, layout: BaseLayout) -> str:
    """`model.layers.3.self_attn.q_proj` → `blk.3.attn_q.weight`; `lm_head` → `output.weight`. Raises for anything else."""
    name = module_name.removeprefix("base_model.model.")
    leaf = name.rsplit(".", 1)[-1]
    if leaf in EMBEDDING_MODULES:
        raise ExportError(f"LoRA on the token embedding ({name}) is not supported: target linear layers only")
    if name == "lm_head" or name.endswith(".lm_head"):
        if layout.tied_embeddings:
            raise ExportError(
                "LoRA on lm_head is not supported for a base with tied embeddings: llama.cpp has no separate output "
                "weight to attach it to"
            )
        return "output.weight"
    match = _LAYER_MODULE.match(name)
    if match is None:
        known = ", ".join(sorted({key.split(".")[-1] for key in LAYER_MODULES}))
        raise ExportError(f"no GGUF tensor is known for module {name!r}; supported LoRA targets: {known}, lm_head")
    return f"blk.{int(match.group(1))}.{LAYER_MODULES[match.group(2)]}.weight"


def check_lora_config(config: Mapping[str, Any]) -> None:
    """Refuse adapter settings that a GGUF LoRA cannot express (call before training to fail early)."""
    peft_type = str(config.get("peft_type", "LORA")).upper().removeprefix("PEFTTYPE.")
    if peft_type != "LORA":
        raise ExportError(f"only LoRA adapters can be exported to GGUF, this one is {peft_type}")
    bias = config.get("bias", "none")
    if bias != "none":
        raise ExportError(f"bias={bias!r}: trained biases cannot be expressed in a GGUF LoRA adapter; use bias='none'")
    for key, reason in _UNSUPPORTED_OPTIONS.items():
        if config.get(key):
            raise ExportError(f"{key}={config[key]!r}: {reason}")
    targets = config.get("target_modules")
    if isinstance(targets, (list, tuple, set)):
        for target in targets:
            if str(target).rsplit(".", 1)[-1] in EMBEDDING_MODULES:
                raise ExportError(f"target module {target!r} is an embedding: only linear layers can be exported")


def gguf_alpha(config: Mapping[str, Any]) -> float:
    """The `adapter.lora.alpha` that makes llama.cpp's `alpha / r` equal PEFT's scaling."""
    alpha = float(config["lora_alpha"])
    rank = int(config["r"])
    return alpha * math.sqrt(rank) if config.get("use_rslora") else alpha


def lora_pairs(state_dict: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Group adapter tensors by module: {module_name: {"A": tensor, "B": tensor}}; anything else is refused."""
    pairs: dict[str, dict[str, Any]] = {}
    for key, tensor in state_dict.items():
        match = _ADAPTER_KEY.match(key)
        if match is None:
            raise ExportError(f"adapter tensor {key!r} is not a LoRA A/B weight (DoRA, bias or embedding tensors are not supported)")
        pairs.setdefault(match.group(1), {})[match.group(2)] = tensor
    for module, pair in pairs.items():
        if set(pair) != {"A", "B"}:
            raise ExportError(f"module {module!r} has only lora_{''.join(pair)} in the adapter")
    return pairs


def write_lora_gguf(
    state_dict: Mapping[str, Any],
    config: Mapping[str, Any],
    out_path: str | os.PathLike[str],
    layout: BaseLayout,
    *,
    name: str | None = None,
) -> ExportSummary:
    """Write the adapter given by a PEFT state dict (torch tensors or numpy arrays) and its adapter_config dict."""
    import numpy as np
    from gguf import GGUFType, GGUFWriter, Keys

    check_lora_config(config)
    rank = int(config["r"])
    alpha = gguf_alpha(config)
    pairs = lora_pairs(state_dict)
    if not pairs:
        raise ExportError("the adapter holds no LoRA tensors")

    tensors: list[tuple[tuple[int, str], str, np.ndarray, np.ndarray]] = []
    for module, pair in pairs.items():
        weight_name = gguf_weight_name(module, layout)
        if layout.tensor_names is not None and weight_name not in layout.tensor_names:
            raise ExportError(f"module {module!r} maps to {weight_name!r}, which the base GGUF does not have")
        lora_a = _as_float32(pair["A"])
        lora_b = _as_float32(pair["B"])
        if lora_a.ndim != 2 or lora_b.ndim != 2 or lora_a.shape[0] != rank or lora_b.shape[1] != rank:
            raise ExportError(
                f"module {module!r}: expected lora_A [r={rank}, in] and lora_B [out, r={rank}], "
                f"got {list(lora_a.shape)} and {list(lora_b.shape)}"
            )
        if layout.permute_qk and weight_name.endswith(".attn_q.weight"):
            lora_b = permute_rows(lora_b, layout.n_head)
        elif layout.permute_qk and weight_name.endswith(".attn_k.weight"):
            lora_b = permute_rows(lora_b, layout.n_head_kv)
        tensors.append((_sort_key(weight_name), weight_name, np.ascontiguousarray(lora_a), np.ascontiguousarray(lora_b)))
    tensors.sort(key=lambda item: item[0])

    out = Path(out_path)
    partial = out.with_name(out.name + ".partial")
    writer = GGUFWriter(str(partial), arch=layout.architecture)
    try:
        writer.add_type(GGUFType.ADAPTER)
        writer.add_string(Keys.Adapter.TYPE, "lora")
        writer.add_float32(Keys.Adapter.LORA_ALPHA, alpha)
        if name:
            writer.add_name(name)
        for _, weight_name, lora_a, lora_b in tensors:
            writer.add_tensor(f"{weight_name}.lora_a", lora_a)
            writer.add_tensor(f"{weight_name}.lora_b", lora_b)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(partial, out)
    return ExportSummary(
        path=str(out),
        architecture=layout.architecture,
        alpha=alpha,
        rank=rank,
        tensor_names=tuple(f"{weight_name}.lora_{part}" for _, weight_name, _, _ in tensors for part in ("a", "b")),
    )


def export_peft_dir(
    peft_dir: str | os.PathLike[str], out_path: str | os.PathLike[str], layout: BaseLayout, *, name: str | None = None
) -> ExportSummary:
    """Export a saved PEFT adapter directory (adapter_config.json + adapter_model.safetensors)."""
    from safetensors.numpy import load_file

    directory = Path(peft_dir)
    config_path = directory / "adapter_config.json"
    weights_path = directory / "adapter_model.safetensors"
    for required in (config_path, weights_path):
        if not required.is_file():
            raise ExportError(f"not a PEFT adapter directory: {required} is missing")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    return write_lora_gguf(load_file(str(weights_path)), config, out_path, layout, name=name)


def _as_float32(tensor: Any) -> np.ndarray:
    import numpy as np

    if hasattr(tensor, "detach"):  # torch.Tensor
        tensor = tensor.detach().to("cpu").float().numpy()
    return np.asarray(tensor, dtype=np.float32)


def _sort_key(weight_name: str) -> tuple[int, str]:
    match = re.match(r"^blk\.(\d+)\.", weight_name)
    return (int(match.group(1)) if match else sys.maxsize, weight_name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m understudy_worker.export_gguf",
        description="Convert a PEFT LoRA adapter directory into a GGUF LoRA adapter for llama.cpp.",
    )
    parser.add_argument("peft_dir", help="directory with adapter_config.json and adapter_model.safetensors")
    parser.add_argument("out", help="GGUF file to write")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--base-gguf", help="the base GGUF that llama.cpp will run (preferred: names are checked against it)")
    source.add_argument("--base-config", help="the base's Hugging Face config.json (or its directory)")
    args = parser.parse_args(argv)
    try:
        if args.base_gguf:
            layout = BaseLayout.from_gguf(args.base_gguf)
        else:
            config_path = Path(args.base_config)
            if config_path.is_dir():
                config_path = config_path / "config.json"
            layout = BaseLayout.from_hf_config(json.loads(config_path.read_text(encoding="utf-8")))
        summary = export_peft_dir(args.peft_dir, args.out, layout)
    except (ExportError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"path": summary.path, "architecture": summary.architecture, "alpha": summary.alpha,
                      "rank": summary.rank, "tensors": len(summary.tensor_names)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
