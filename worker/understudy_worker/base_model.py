"""Loading the base model and tokenizer named by a `BaseModelRef`.

A GGUF base is dequantized by transformers on load, so training sees exactly the weights llama.cpp runs.
Local bases (`gguf`, `hf-dir`) never touch the network; a `hub` base downloads unless the hub cache has it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .spec import BaseModelRef, GgufBase, HfDirBase, HubBase

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def _source(base: BaseModelRef) -> tuple[str, dict[str, Any]]:
    """The `from_pretrained` name and keyword arguments for a base reference."""
    if isinstance(base, GgufBase):
        file = Path(base.path)
        if not file.is_file():
            raise FileNotFoundError(f"base GGUF file not found: {base.path}")
        return str(file.resolve().parent), {"gguf_file": file.name}
    if isinstance(base, HfDirBase):
        if not Path(base.path, "config.json").is_file():
            raise FileNotFoundError(f"base directory has no config.json: {base.path}")
        return str(Path(base.path).resolve()), {}
    assert isinstance(base, HubBase)
    return base.id, ({"revision": base.revision} if base.revision else {})


def prepare_environment(base: BaseModelRef) -> None:
    """Keep local loads offline and library chatter off the (already redirected) stdout; call before importing transformers."""
    if not isinstance(base, HubBase):
        os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def load_tokenizer(base: BaseModelRef, chat_template: str | None = None) -> PreTrainedTokenizerBase:
    """The base's tokenizer; with `chat_template`, that template replaces whatever the base carries (or lacks).

    The TypeScript side resolves the template once (the GGUF's own, else the catalog family's) and passes it in
    every spec, so training, the saved adapter's tokenizer files and llama.cpp serving all use the same string.
    """
    from transformers import AutoTokenizer

    name, kwargs = _source(base)
    tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


def load_model(base: BaseModelRef) -> PreTrainedModel:
    """The base in float32 on CPU (the trainer moves it to an accelerator if there is one)."""
    import torch
    from transformers import AutoModelForCausalLM

    name, kwargs = _source(base)
    if isinstance(base, GgufBase):
        from transformers import GgufConfig

        # Unpack every weight into a plain dense float32 model: trainable, and exactly what llama.cpp dequantizes.
        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    model = AutoModelForCausalLM.from_pretrained(name, dtype=torch.float32, **kwargs)
    if getattr(model, "hf_quantizer", None) is not None:
        raise RuntimeError(f"the base loaded as a quantized model ({model.hf_quantizer.quantization_config.quant_method}); expected dense weights")
    model.eval()
    return model


def describe_device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"
