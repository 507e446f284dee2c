"""Where training runs and in which precision: detected, or checked when the spec asks for something.

`auto` picks CUDA, then Apple MPS, then the CPU; bf16 on a CUDA device that supports it, fp16 on older CUDA GPUs,
fp32 otherwise. On a CPU it is fp32 even where the CPU computes bf16 natively (AVX-512 BF16, AMX): with the pinned
transformers 5.24 Trainer the bf16 flag did not change the arithmetic on CPU (`npm run bench:train` on an AVX-512
BF16 EPYC gave bit-identical losses and the same tokens/s with `bf16` and `fp32`), so calling it bf16 would be a
false label. An explicit request the hardware or the stack cannot honour is refused before the model loads.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SpecError


@dataclass(frozen=True)
class Placement:
    device: str  # cpu | cuda | mps
    precision: str  # fp32 | bf16 | fp16
    description: str

    @property
    def use_cpu(self) -> bool:
        return self.device == "cpu"


def _cpu_bf16_native() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = handle.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_placement(device: str, precision: str, field_prefix: str = "training") -> Placement:
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if device == "auto":
        device = "cuda" if cuda else "mps" if mps else "cpu"
    elif device == "cuda" and not cuda:
        raise SpecError(f"{field_prefix}.device", "asks for cuda, but torch sees no CUDA device (is the CUDA build installed? `understudy setup --torch cuda`)")
    elif device == "mps" and not mps:
        raise SpecError(f"{field_prefix}.device", "asks for mps, but torch reports Apple MPS unavailable")

    if device == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported()
        fp16_ok = True
        name = f"cuda ({torch.cuda.get_device_name(0)})"
    elif device == "mps":
        bf16_ok, fp16_ok, name = False, True, "mps"
    else:
        bf16_ok, fp16_ok, name = _cpu_bf16_native(), False, "cpu"

    if device == "cpu" and precision == "bf16":
        raise SpecError(
            f"{field_prefix}.precision",
            "bf16 is not applied on the CPU by this training stack (the Trainer's bf16 flag left the losses bit-identical to fp32); use 'auto' or 'fp32'",
        )
    if precision == "auto":
        precision = "bf16" if bf16_ok and device != "cpu" else "fp16" if device == "cuda" else "fp32"
    elif precision == "bf16" and not bf16_ok:
        raise SpecError(f"{field_prefix}.precision", f"bf16 is not native on this {name} (emulated it is slower than fp32); use 'auto' or 'fp32'")
    elif precision == "fp16" and not fp16_ok:
        raise SpecError(f"{field_prefix}.precision", f"fp16 mixed precision needs a GPU; this run is on {name}; use 'auto' or 'fp32'")
    return Placement(device=device, precision=precision, description=name)
