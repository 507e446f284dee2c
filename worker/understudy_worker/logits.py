"""`logits`: forward passes of the base (optionally with a PEFT adapter) for logit parity checks.

Loading a base is the slow part (a dequantized GGUF takes about a minute for a 270M model on two cores), so one
call scores any number of sequences, and with `compareWithBase` also scores them with the adapter disabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .base_model import describe_device, load_model, prepare_environment
from .protocol import EventStream
from .spec import LogitsSpec

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def top_logprobs(model: PreTrainedModel, token_ids: Sequence[int], top_k: int) -> dict[str, Any]:
    """The `top_k` most likely next tokens after `token_ids` as natural-log probabilities (float64), most likely first."""
    import torch

    vocab_size = int(model.get_output_embeddings().weight.shape[0])
    out_of_range = [token for token in token_ids if token >= vocab_size]
    if out_of_range:
        raise ValueError(f"token ids {out_of_range[:5]} are outside the vocabulary of {vocab_size}")
    device = next(model.parameters()).device
    input_ids = torch.tensor([list(token_ids)], dtype=torch.long, device=device)
    with torch.inference_mode():
        logits = model(input_ids=input_ids, use_cache=False).logits[0, -1]
    logprobs = torch.log_softmax(logits.to(torch.float64), dim=-1)
    values, indices = torch.topk(logprobs, k=min(top_k, logprobs.shape[0]))
    return {
        "top": [{"tokenId": int(index), "logprob": float(value)} for value, index in zip(values.tolist(), indices.tolist())],
        "vocabSize": int(logprobs.shape[0]),
    }


def run(spec: LogitsSpec, events: EventStream) -> None:
    prepare_environment(spec.base)
    import torch

    events.started("logits", describe_device(), torch.__version__)
    model = load_model(spec.base)
    if spec.adapter_dir is None:
        results = [{"top": top_logprobs(model, ids, spec.top_k)["top"]} for ids in spec.sequences]
    else:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, spec.adapter_dir)
        model.eval()
        results = [{"top": top_logprobs(model, ids, spec.top_k)["top"]} for ids in spec.sequences]
        if spec.compare_with_base:
            with model.disable_adapter():
                for result, ids in zip(results, spec.sequences):
                    result["baseTop"] = top_logprobs(model, ids, spec.top_k)["top"]
    vocab_size = int(model.get_output_embeddings().weight.shape[0])
    events.result({"vocabSize": vocab_size, "results": results})
