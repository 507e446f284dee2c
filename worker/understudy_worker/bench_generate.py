"""`bench-generate`: timed greedy generation with transformers `generate` (base, or base + PEFT adapter).

The inference benchmark (`scripts/bench-inference.ts`) sets these figures beside llama.cpp's for the same
prompt token ids. Per prompt it reports the time to the first new token (prefill: the whole prompt in one forward
pass, plus `generate`'s own setup) and the time for the remaining tokens (decode), batch 1, greedy, KV cache on.
The base is loaded as `load_model` always does (a GGUF dequantized to float32), and the adapter stays an
unmerged PEFT LoRA, as a transformers + PEFT deployment would run it.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Sequence

from .base_model import describe_device, load_model, prepare_environment
from .protocol import EventStream
from .spec import BenchGenerateSpec

if TYPE_CHECKING:
    from transformers import PreTrainedModel


class _FirstTokenClock:
    """A `generate` streamer that only notes when the first new token arrives.

    `generate` calls `put` once with the prompt, then once per new token right after it is chosen (on CPU the
    stop check is not deferred), so the second call marks the end of prefill. `generate` needs no base class.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.first_token_at: float | None = None

    def put(self, _value: Any) -> None:
        self.calls += 1
        if self.calls == 2:
            self.first_token_at = time.perf_counter()

    def end(self) -> None:
        pass


def time_generation(model: PreTrainedModel, token_ids: Sequence[int], max_new_tokens: int, ignore_eos: bool) -> dict[str, Any]:
    """Greedy `generate` of up to `max_new_tokens` after `token_ids`, timed; `ignore_eos` always makes all of them."""
    import torch

    vocab_size = int(model.get_output_embeddings().weight.shape[0])
    out_of_range = [token for token in token_ids if not 0 <= token < vocab_size]
    if out_of_range:
        raise ValueError(f"token ids {out_of_range[:5]} are outside the vocabulary of {vocab_size}")
    input_ids = torch.tensor([list(token_ids)], dtype=torch.long)
    attention_mask = torch.ones_like(input_ids)
    eos = model.generation_config.eos_token_id
    pad = eos[0] if isinstance(eos, list) else eos
    clock = _FirstTokenClock()
    started = time.perf_counter()
    with torch.inference_mode():
        output = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            min_new_tokens=max_new_tokens if ignore_eos else None,
            do_sample=False,
            num_beams=1,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=pad,
            streamer=clock,
        )
    finished = time.perf_counter()
    first_token_at = clock.first_token_at if clock.first_token_at is not None else finished
    completion = [int(token) for token in output[0, input_ids.shape[1]:].tolist()]
    eos_ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
    # Like llama.cpp's count, the end-of-turn token is not a completion token.
    if completion and completion[-1] in eos_ids and not ignore_eos:
        completion = completion[:-1]
    return {
        "promptTokens": len(token_ids),
        "completionTokens": len(completion),
        "completionTokenIds": completion,
        "prefillMs": (first_token_at - started) * 1000,
        "decodeMs": (finished - first_token_at) * 1000,
        "totalMs": (finished - started) * 1000,
    }


def run(spec: BenchGenerateSpec, events: EventStream) -> None:
    prepare_environment(spec.base)
    import torch

    threads = spec.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    events.started("bench-generate", describe_device(), torch.__version__)
    load_started = time.perf_counter()
    model = load_model(spec.base)
    if spec.adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, spec.adapter_dir)
        model.eval()
    load_seconds = time.perf_counter() - load_started
    # Warm-up: the first calls pay for allocator growth and kernel selection; they are not reported.
    for index in range(spec.warmup):
        time_generation(model, spec.sequences[index % len(spec.sequences)], spec.max_new_tokens, spec.ignore_eos)
    results = [time_generation(model, ids, spec.max_new_tokens, spec.ignore_eos) for ids in spec.sequences]
    events.result(
        {
            "threads": torch.get_num_threads(),
            "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
            "adapter": spec.adapter_dir is not None,
            "loadSeconds": load_seconds,
            "warmup": spec.warmup,
            "results": results,
        }
    )
