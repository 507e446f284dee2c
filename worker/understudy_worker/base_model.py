"""Loading the base model and tokenizer named by a `BaseModelRef`.

A GGUF base is dequantized by transformers on load, so training sees exactly the weights llama.cpp runs.
Local bases (`gguf`, `hf-dir`) never touch the network; a `hub` base downloads unless the hub cache has it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .spec import BaseModelRef, GgufBase, HfDirBase, HubBase

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def cache_root() -> Path:
    """The same cache the TypeScript side uses: $UNDERSTUDY_CACHE, else $XDG_CACHE_HOME/understudy, else ~/.cache/understudy."""
    if os.environ.get("UNDERSTUDY_CACHE"):
        return Path(os.environ["UNDERSTUDY_CACHE"]).resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "understudy"


def dequantized_dir(gguf: Path) -> Path:
    """Where the float32 transformers copy of a GGUF lives, keyed by the GGUF's sha256 (content, not path)."""
    from .artifacts import sha256_file

    return cache_root() / "dequantized" / sha256_file(gguf)


def _dequantize_to_cache(gguf: Path, target: Path) -> None:
    """Dequantize once (tens of seconds on a small CPU) and keep the result as safetensors + tokenizer files.

    The copy holds exactly the weights transformers' GGUF loader produces, so every later load is the same model,
    only faster. Written to a staging directory and renamed, so a killed conversion leaves no half copy.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from .artifacts import staging_directory

    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, quantization_config=GgufConfig(dequantize=True))
    if getattr(model, "hf_quantizer", None) is not None:
        raise RuntimeError(f"the base loaded as a quantized model ({model.hf_quantizer.quantization_config.quant_method}); expected dense weights")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    for attribute in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(model.config, attribute):
            delattr(model.config, attribute)
    target.parent.mkdir(parents=True, exist_ok=True)
    with staging_directory(target.parent) as staging:
        out = staging / "model"
        model.save_pretrained(str(out), safe_serialization=True)
        tokenizer.save_pretrained(str(out))
        (out / "understudy-source.json").write_text(json.dumps({"gguf": str(gguf), "note": "float32 dequantization of the GGUF by transformers"}), encoding="utf-8")
        try:
            os.replace(out, target)
        except OSError:
            if not (target / "config.json").is_file():  # another process won the race: theirs is the same copy
                raise


def _source(base: BaseModelRef) -> tuple[str, dict[str, Any]]:
    """The `from_pretrained` name and keyword arguments for a base reference.

    A GGUF base loads from its dequantized copy in the cache (made on first use); set UNDERSTUDY_NO_DEQUANT_CACHE=1
    to read the GGUF directly every time.
    """
    if isinstance(base, GgufBase):
        file = Path(base.path)
        if not file.is_file():
            raise FileNotFoundError(f"base GGUF file not found: {base.path}")
        if os.environ.get("UNDERSTUDY_NO_DEQUANT_CACHE") == "1":
            return str(file.resolve().parent), {"gguf_file": file.name}
        cached = dequantized_dir(file.resolve())
        if not (cached / "config.json").is_file():
            _dequantize_to_cache(file.resolve(), cached)
        return str(cached), {}
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
    if "gguf_file" in kwargs:
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
