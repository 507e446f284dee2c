"""`export-merged`: fold a LoRA adapter into the base weights and save a plain transformers model.

The result (config.json, model.safetensors, tokenizer files with the training chat template,
generation_config.json) loads in vLLM, TGI or transformers without PEFT. It is written to a staging directory
and renamed into place, so a failed export leaves nothing that looks complete.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .artifacts import publish, sha256_directory, signals_blocked, staging_directory
from .base_model import describe_device, load_model, load_tokenizer, prepare_environment
from .errors import SpecError
from .export_gguf import check_lora_config
from .protocol import EventStream
from .spec import ExportMergedSpec


def run(spec: ExportMergedSpec, events: EventStream) -> None:
    started = time.monotonic()
    prepare_environment(spec.base)
    import torch

    events.started("export-merged", describe_device(), torch.__version__)
    config_file = Path(spec.adapter_dir, "adapter_config.json")
    if not config_file.is_file():
        raise SpecError("adapterDir", f"{spec.adapter_dir} is not a PEFT adapter directory (no adapter_config.json)")
    check_lora_config(json.loads(config_file.read_text(encoding="utf-8")))
    final = Path(spec.output_dir).resolve()
    if final.exists() and any(final.iterdir()):
        raise SpecError("outputDir", f"{final} exists and is not empty; choose a new directory")

    from peft import PeftModel

    tokenizer = load_tokenizer(spec.base, spec.chat_template)
    base = load_model(spec.base)
    merged = PeftModel.from_pretrained(base, spec.adapter_dir).merge_and_unload()
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[spec.dtype]
    merged = merged.to(dtype)
    # A GGUF-loaded base carries a quantization note in its config; the merged weights are plain dense tensors.
    for attribute in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(merged.config, attribute):
            delattr(merged.config, attribute)
    merged.config.dtype = dtype

    final.parent.mkdir(parents=True, exist_ok=True)
    with staging_directory(final.parent) as staging:
        out = staging / "merged"
        merged.save_pretrained(str(out), safe_serialization=True)
        tokenizer.save_pretrained(str(out))
        digest = sha256_directory(out)
        with signals_blocked():
            if final.exists():
                final.rmdir()
            publish(out, final)
    parameters = sum(parameter.numel() for parameter in merged.parameters())
    events.log(f"merged {spec.adapter_dir} into the base: {parameters:,} parameters as {spec.dtype}")
    events.artifact("merged-model", str(final), digest)
    events.done(time.monotonic() - started)
