"""`train-dpo`: direct preference optimization with TRL's DPOTrainer, starting from an SFT LoRA adapter.

The SFT adapter is loaded trainable; TRL adds a frozen copy of it as the `ref` adapter, so the reference policy
is the SFT model itself (not the bare base). The held-out preference margin, mean log p(chosen) - log p(rejected)
over the completion tokens, and the share of pairs it orders correctly are measured before and after training
with the same code, so the numbers show what DPO moved.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .artifacts import staging_directory
from .base_model import load_model, load_tokenizer, prepare_environment
from .errors import DataError, SpecError
from .export_gguf import BaseLayout, check_lora_config
from .hardware import resolve_placement
from .protocol import EventStream, finite_or_none
from .spec import GgufBase, TrainDpoSpec, parse_preference_pair
from .train_sft import _LARGEST_WARMUP_RATIO, TokenCounter, make_progress_callback, publish_adapter


def read_pairs(path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as file:
            for line_number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(path, line_number, f"not JSON: {error.msg}") from error
                try:
                    prompt, chosen, rejected = parse_preference_pair(value)
                except SpecError as error:
                    raise DataError(path, line_number, f"{error.field}: {error.problem}") from error
                rows.append({"prompt": [m.to_dict() for m in prompt], "chosen": [chosen.to_dict()], "rejected": [rejected.to_dict()]})
    except OSError as error:
        raise DataError(path, None, f"cannot read preference pairs: {error.strerror or error}") from error
    if not rows:
        raise DataError(path, None, "holds no preference pairs")
    return rows


def completion_logprob(model: Any, tokenizer: Any, prompt: list[dict[str, str]], answer: dict[str, str]) -> float:
    """Sum of log p(token) over the answer's tokens (end-of-turn included), the way DPO scores a completion."""
    import torch

    prompt_ids = tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
    full_ids = tokenizer.apply_chat_template(prompt + [answer], tokenize=True, return_dict=True)["input_ids"]
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise DataError("<pairs>", None, "the chat template renders the prompt differently with and without the answer")
    ids = torch.tensor([full_ids], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    targets = ids[0, 1:]
    picked = logprobs.gather(1, targets.unsqueeze(1)).squeeze(1)
    return float(picked[len(prompt_ids) - 1 :].sum())


def preference_margins(model: Any, tokenizer: Any, pairs: list[dict[str, Any]]) -> tuple[float, float]:
    """(mean margin, share of pairs with margin > 0) on the given pairs."""
    was_training = model.training
    model.eval()
    try:
        margins = [
            completion_logprob(model, tokenizer, pair["prompt"], pair["chosen"][0]) - completion_logprob(model, tokenizer, pair["prompt"], pair["rejected"][0])
            for pair in pairs
        ]
    finally:
        if was_training:
            model.train()
    return sum(margins) / len(margins), sum(margin > 0 for margin in margins) / len(margins)


def run(spec: TrainDpoSpec, events: EventStream) -> None:
    run_started = time.monotonic()
    settings = spec.training
    prepare_environment(spec.base)
    import torch

    placement = resolve_placement(settings.device, settings.precision)
    events.started("train-dpo", placement.description, torch.__version__)
    if settings.threads > 0:
        torch.set_num_threads(settings.threads)
    pairs = read_pairs(spec.train_path)
    eval_pairs = read_pairs(spec.eval_path)
    adapter_config_file = Path(spec.sft_adapter_dir, "adapter_config.json")
    if not adapter_config_file.is_file():
        raise SpecError("sftAdapterDir", f"{spec.sft_adapter_dir} is not a PEFT adapter directory (no adapter_config.json)")
    adapter_config = json.loads(adapter_config_file.read_text(encoding="utf-8"))
    check_lora_config(adapter_config)

    import datasets
    import transformers
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_warning()

    tokenizer = load_tokenizer(spec.base, spec.chat_template)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    base = load_model(spec.base)
    layout = BaseLayout.from_gguf(spec.base.path) if isinstance(spec.base, GgufBase) else BaseLayout.from_hf_config(base.config)
    transformers.set_seed(settings.seed)
    model = PeftModel.from_pretrained(base, spec.sft_adapter_dir, is_trainable=True)
    events.log(f"policy = SFT adapter {spec.sft_adapter_dir} (trainable); reference = a frozen copy of it; beta={settings.beta}, loss {settings.loss_type}")

    margin_before, accuracy_before = preference_margins(model, tokenizer, eval_pairs)
    events.emit("eval", step=0, evalLoss=None, margin=finite_or_none(margin_before), preferenceAccuracy=accuracy_before)
    events.log(f"{len(pairs)} training pairs; held-out margin before DPO {margin_before:.3f} ({accuracy_before:.1%} of {len(eval_pairs)} pairs ordered right)")

    with staging_directory(spec.output_dir) as staging:
        config = DPOConfig(
            output_dir=str(staging / "trainer"),
            beta=settings.beta,
            loss_type=[settings.loss_type],
            num_train_epochs=settings.epochs,
            max_steps=settings.max_steps if settings.max_steps > 0 else -1,
            learning_rate=settings.learning_rate,
            per_device_train_batch_size=settings.batch_size,
            gradient_accumulation_steps=settings.gradient_accumulation,
            max_length=settings.max_length,
            warmup_steps=min(settings.warmup_ratio, _LARGEST_WARMUP_RATIO),
            lr_scheduler_type=settings.scheduler,
            seed=settings.seed,
            data_seed=settings.seed,
            logging_strategy="steps",
            logging_steps=settings.logging_steps,
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=placement.use_cpu,
            bf16=placement.precision == "bf16",
            fp16=placement.precision == "fp16",
            gradient_checkpointing=False,
            dataloader_num_workers=0,
        )
        trainer = DPOTrainer(
            model=model,
            args=config,
            train_dataset=datasets.Dataset.from_list(pairs),
            processing_class=tokenizer,
        )
        counter = TokenCounter(trainer.data_collator)
        trainer.data_collator = counter
        reporter = make_progress_callback(events, counter)
        trainer.add_callback(reporter)
        train_started = time.monotonic()
        output = trainer.train()
        train_seconds = time.monotonic() - train_started

        policy = trainer.model
        margin_after, accuracy_after = preference_margins(policy, tokenizer, eval_pairs)
        events.emit("eval", step=int(trainer.state.global_step), evalLoss=None, margin=finite_or_none(margin_after), preferenceAccuracy=accuracy_after)
        events.log(f"held-out margin after DPO {margin_after:.3f} ({accuracy_after:.1%} ordered right)")
        if not trainer.is_world_process_zero():
            return

        # Only the trained adapter: the frozen `ref` copy TRL added stays behind.
        publish_adapter(policy, tokenizer, staging, spec.output_dir, layout, f"understudy DPO LoRA r={adapter_config.get('r')}", events, adapters=["default"])

    events.done(
        time.monotonic() - run_started,
        trainLoss=reporter.last_loss if reporter.last_loss is not None else finite_or_none(output.training_loss),
        trainTokens=counter.tokens,
        tokensPerSecond=finite_or_none(counter.tokens / train_seconds) if train_seconds > 0 else None,
        steps=int(trainer.state.global_step),
        marginBefore=finite_or_none(margin_before),
        marginAfter=finite_or_none(margin_after),
        preferenceAccuracyBefore=accuracy_before,
        preferenceAccuracyAfter=accuracy_after,
        device=placement.device,
        precision=placement.precision,
    )
