"""The reference side of `npm run bench:train`, and the measurements both sides share.

`python -m understudy_worker.bench_train trl --spec spec.json`: a plain TRL `SFTTrainer` run with TRL's own
`SFTConfig` defaults, changing only what the benchmark must (output_dir, max_steps, the seed, report_to, and
bf16=False, without which TRL refuses to start on a CPU) and passing the same LoRA config as `peft_config`.
Gradient checkpointing stays on, as TRL's defaults have it.

`... heldout --spec spec.json`: the mean completion-token cross-entropy of base + a PEFT adapter on held-out
records, the same function for both sides, so "final loss" compares like with like.

`... peak --spec spec.json`: torch fp32 matmul throughput (square GEMMs) with the same threads: the peak that
FLOP/s shares are measured against.

Each prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _records(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_trl(spec: dict[str, Any]) -> dict[str, Any]:
    import datasets
    import torch
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from .base_model import load_model, load_tokenizer, prepare_environment
    base_ref = _base(spec)
    prepare_environment(base_ref)
    if spec.get("threads", 0) > 0:
        torch.set_num_threads(spec["threads"])
    tokenizer = load_tokenizer(base_ref, spec["chatTemplate"])
    model = load_model(base_ref)
    lora = spec["lora"]
    peft_config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"], target_modules="all-linear", task_type="CAUSAL_LM")
    # TRL's defaults; only what the benchmark must set is set.
    config = SFTConfig(output_dir=spec["outputDir"], max_steps=spec["steps"], seed=spec["seed"], report_to="none", bf16=False, disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=config, train_dataset=datasets.Dataset.from_list(_records(spec["trainPath"])), processing_class=tokenizer, peft_config=peft_config)

    real_tokens = 0
    collator = trainer.data_collator

    def counting(examples: list[dict[str, Any]]) -> Any:
        nonlocal real_tokens
        real_tokens += sum(len(example["input_ids"]) for example in examples)
        return collator(examples)

    trainer.data_collator = counting
    losses: list[float] = []

    from transformers import TrainerCallback

    class Losses(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    trainer.add_callback(Losses())
    started = time.monotonic()
    trainer.train()
    seconds = time.monotonic() - started
    adapter_dir = Path(spec["outputDir"]) / "adapter"
    trainer.model.save_pretrained(str(adapter_dir))
    return {
        "tokens": real_tokens,
        "seconds": seconds,
        "tokensPerSecond": real_tokens / seconds,
        "steps": int(trainer.state.global_step),
        "lastLoggedLoss": losses[-1] if losses else None,
        "peakRssBytes": _peak_rss_bytes(),
        "adapterDir": str(adapter_dir),
        "gradientCheckpointing": bool(config.gradient_checkpointing),
        "batchSize": config.per_device_train_batch_size,
        "learningRate": config.learning_rate,
        "paddingFree": bool(config.padding_free),
        "maxLength": config.max_length,
    }


def heldout_loss(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    from peft import PeftModel

    from .base_model import load_model, load_tokenizer, prepare_environment
    base_ref = _base(spec)
    prepare_environment(base_ref)
    tokenizer = load_tokenizer(base_ref, spec["chatTemplate"])
    model = PeftModel.from_pretrained(load_model(base_ref), spec["adapterDir"])
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for record in _records(spec["evalPath"]):
            prompt_ids = tokenizer.apply_chat_template(record["prompt"], tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
            full_ids = tokenizer.apply_chat_template(record["prompt"] + record["completion"], tokenize=True, return_dict=True)["input_ids"]
            ids = torch.tensor([full_ids])
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
            picked = logprobs.gather(1, ids[0, 1:].unsqueeze(1)).squeeze(1)[len(prompt_ids) - 1 :]
            total -= float(picked.sum())
            count += picked.numel()
    return {"heldoutLoss": total / count, "tokens": count}


def matmul_peak(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    if spec.get("threads", 0) > 0:
        torch.set_num_threads(spec["threads"])
    # fp32 by default; "bfloat16" measures the peak a bf16 run is bounded by (AVX-512 BF16 / AMX CPUs).
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[spec.get("dtype", "float32")]
    best = 0.0
    for size in (512, 1024, 2048):
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        for _ in range(2):
            a @ b
        repeats = max(3, int(4e10 // (2 * size**3)))
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - started))
    return {"matmulFlops": best, "threads": torch.get_num_threads(), "dtype": str(dtype).removeprefix("torch.")}


def model_shape(spec: dict[str, Any]) -> dict[str, Any]:
    """Counts for the FLOP estimate: matmul weights (body and output layer), the LoRA parameters all-linear adds at
    rank r, layers and width, and the share of training tokens that are completion tokens (the loss positions)."""
    import torch

    from .base_model import load_model, load_tokenizer, prepare_environment
    base_ref = _base(spec)
    prepare_environment(base_ref)
    model = load_model(base_ref)
    head = model.get_output_embeddings()
    body = [module for name, module in model.named_modules() if isinstance(module, torch.nn.Linear) and module is not head]
    tokenizer = load_tokenizer(base_ref, spec["chatTemplate"])
    prompt_tokens = completion_tokens = 0
    for record in _records(spec["trainPath"]):
        prompt = len(tokenizer.apply_chat_template(record["prompt"], tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"])
        full = len(tokenizer.apply_chat_template(record["prompt"] + record["completion"], tokenize=True, return_dict=True)["input_ids"])
        prompt_tokens += prompt
        completion_tokens += full - prompt
    rank = int(spec["rank"])
    return {
        "bodyMatmulParams": sum(module.weight.numel() for module in body),
        "headParams": head.weight.numel(),
        "loraParams": sum(rank * (module.in_features + module.out_features) for module in body),
        "layers": int(model.config.num_hidden_layers),
        "hidden": int(model.config.hidden_size),
        "completionShare": completion_tokens / max(1, prompt_tokens + completion_tokens),
        "meanTokens": (prompt_tokens + completion_tokens) / max(1, len(_records(spec["trainPath"]))),
    }


def _base(spec: dict[str, Any]) -> Any:
    """The spec's `base` as a BaseModelRef, checked by the worker's own parser."""
    from .spec import _Node, parse_base

    return parse_base(_Node(spec["base"], "base"))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m understudy_worker.bench_train")
    parser.add_argument("mode", choices=("trl", "heldout", "peak", "shape"))
    parser.add_argument("--spec", required=True)
    args = parser.parse_args()
    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    # Library chatter goes to stderr; stdout carries the one JSON answer.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    result = {"trl": run_trl, "heldout": heldout_loss, "peak": matmul_peak, "shape": model_shape}[args.mode](spec)
    real_stdout.write(json.dumps(result) + "\n")
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
