"""`train-sft`: LoRA supervised fine-tuning with TRL's SFTTrainer, then PEFT and GGUF adapter export."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifacts import publish, sha256_directory, sha256_file, signals_blocked, staging_directory
from .base_model import describe_device, load_model, load_tokenizer, prepare_environment
from .errors import DataError, SpecError
from .export_gguf import BaseLayout, check_lora_config, export_peft_dir, gguf_weight_name
from .protocol import EventStream, finite_or_none
from .spec import ALL_LINEAR, GgufBase, TrainSftSpec, parse_prompt_completion
from .tokenize_chat import completion_stop_token

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

PEFT_DIR_NAME = "peft"
GGUF_FILE_NAME = "adapter.gguf"
# transformers reads warmup_steps >= 1 as a step count and below 1 as a ratio; ceil(n * (1 - 1e-9)) == n for
# any realistic step count n, so a ratio of 1 still means "warm up over the whole run".
_LARGEST_WARMUP_RATIO = 1 - 1e-9


def read_records(path: str) -> list[dict[str, list[dict[str, str]]]]:
    """The JSONL training file as TRL conversational prompt-completion rows, each line checked against the contract."""
    rows: list[dict[str, list[dict[str, str]]]] = []
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
                    prompt, completion = parse_prompt_completion(value)
                except SpecError as error:
                    raise DataError(path, line_number, f"{error.field}: {error.problem}") from error
                rows.append({"prompt": [m.to_dict() for m in prompt], "completion": [m.to_dict() for m in completion]})
    except OSError as error:
        raise DataError(path, None, f"cannot read training data: {error.strerror or error}") from error
    if not rows:
        raise DataError(path, None, "holds no records")
    return rows


def count_tokens(rows: list[dict[str, Any]], tokenizer: PreTrainedTokenizerBase, max_length: int) -> tuple[int, int]:
    """(examples longer than max_length, total tokens before truncation), tokenized the way TRL tokenizes them."""
    truncated = 0
    total = 0
    for row in rows:
        ids = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True, return_dict=True)["input_ids"]
        total += len(ids)
        truncated += len(ids) > max_length
    return truncated, total


def base_layout(spec: TrainSftSpec, model_config: Any) -> BaseLayout:
    if isinstance(spec.base, GgufBase):
        return BaseLayout.from_gguf(spec.base.path)
    return BaseLayout.from_hf_config(model_config)


def make_progress_callback(events: EventStream) -> Any:
    from transformers import TrainerCallback

    class ProgressReporter(TrainerCallback):
        """Turns the trainer's log calls into `progress` events, with throughput over non-padding tokens."""

        def __init__(self) -> None:
            self.started_at = time.monotonic()
            self.last_loss: float | None = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started_at = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # Always log the last step, so the final loss window is reported even off the logging grid.
            if state.max_steps > 0 and state.global_step >= state.max_steps:
                control.should_log = True

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
            if not logs or "loss" not in logs:
                return
            elapsed = max(time.monotonic() - self.started_at, 1e-9)
            step = state.global_step
            self.last_loss = finite_or_none(logs["loss"])
            events.progress(
                step=step,
                total_steps=state.max_steps,
                epoch=state.epoch or 0.0,
                loss=logs["loss"],
                learning_rate=logs.get("learning_rate"),
                tokens_per_second=state.num_input_tokens_seen / elapsed,
                eta_seconds=(state.max_steps - step) * elapsed / step if step > 0 else None,
            )

    return ProgressReporter()


def run(spec: TrainSftSpec, events: EventStream) -> None:
    run_started = time.monotonic()
    settings = spec.training
    prepare_environment(spec.base)
    import torch

    events.started("train-sft", describe_device(), torch.__version__)
    if settings.threads > 0:
        torch.set_num_threads(settings.threads)
    rows = read_records(spec.train_path)

    import datasets
    import transformers
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import LoraLayer
    from trl import SFTConfig, SFTTrainer

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_warning()

    load_started = time.monotonic()
    tokenizer = load_tokenizer(spec.base, spec.chat_template)
    # Before the slow model load: a template that never ends the assistant turn with a special token is refused.
    stop_token = completion_stop_token(tokenizer, rows[0]["prompt"], rows[0]["completion"])
    events.log(f"completions end with {tokenizer.convert_ids_to_tokens(stop_token)!r} (id {stop_token}), trained so the model learns to stop")
    model = load_model(spec.base)
    layout = base_layout(spec, model.config)
    events.log(f"loaded base in {time.monotonic() - load_started:.1f}s ({layout.architecture}, {model.num_parameters():,} parameters)")

    lora_config = LoraConfig(
        r=spec.lora.r,
        lora_alpha=spec.lora.alpha,
        lora_dropout=spec.lora.dropout,
        target_modules=ALL_LINEAR if spec.lora.target_modules == ALL_LINEAR else list(spec.lora.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    # Fail before training, not after, on anything the GGUF export would refuse.
    check_lora_config(lora_config.to_dict())
    # LoRA A is randomly initialised: seed before wrapping so a run is reproducible.
    transformers.set_seed(settings.seed)
    model = get_peft_model(model, lora_config)
    adapted = [name for name, module in model.named_modules() if isinstance(module, LoraLayer)]
    for name in adapted:
        weight_name = gguf_weight_name(name, layout)
        if layout.tensor_names is not None and weight_name not in layout.tensor_names:
            raise SpecError("lora.targetModules", f"{name} maps to {weight_name}, which the base GGUF does not have")
    trainable, total = model.get_nb_trainable_parameters()
    events.log(f"LoRA r={spec.lora.r} on {len(adapted)} modules: {trainable:,} trainable of {total:,} parameters")

    truncated, untruncated_tokens = count_tokens(rows, tokenizer, settings.max_length)
    events.log(f"{len(rows)} examples, {untruncated_tokens} tokens; {truncated} longer than maxLength={settings.max_length} (truncated)")

    with staging_directory(spec.output_dir) as staging:
        config = SFTConfig(
            output_dir=str(staging / "trainer"),
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
            activation_checkpointing=False,
            bf16=False,
            fp16=False,
            packing=False,
            completion_only_loss=True,
            dataloader_num_workers=0,
            dataloader_pin_memory=torch.cuda.is_available(),
            include_num_input_tokens_seen="non_padding",
        )
        reporter = make_progress_callback(events)
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=datasets.Dataset.from_list(rows),
            processing_class=tokenizer,
            callbacks=[reporter],
        )
        dropped = len(rows) - len(trainer.train_dataset)
        if dropped:
            events.log(f"{dropped} examples dropped: truncation at maxLength left no completion tokens to learn from")

        train_started = time.monotonic()
        output = trainer.train()
        train_seconds = time.monotonic() - train_started
        train_tokens = int(trainer.state.num_input_tokens_seen)

        peft_dir = staging / PEFT_DIR_NAME
        model.save_pretrained(str(peft_dir), save_embedding_layers=False)
        # The tokenizer files carry the chat template used in training (the spec's), for serving-side comparison.
        tokenizer.save_pretrained(str(peft_dir))
        gguf_path = staging / GGUF_FILE_NAME
        summary = export_peft_dir(peft_dir, gguf_path, layout, name=f"understudy LoRA r={spec.lora.r}")
        events.log(f"wrote GGUF LoRA: {len(summary.tensor_names)} tensors, adapter.lora.alpha={summary.alpha:g}")
        peft_sha = sha256_directory(peft_dir)
        gguf_sha = sha256_file(gguf_path)

        final_dir = Path(spec.output_dir).resolve()
        final_peft = final_dir / PEFT_DIR_NAME
        final_gguf = final_dir / GGUF_FILE_NAME
        with signals_blocked():
            publish(peft_dir, final_peft)
            publish(gguf_path, final_gguf)

    events.artifact("peft-adapter", str(final_peft), peft_sha)
    events.artifact("gguf-lora", str(final_gguf), gguf_sha)
    train_loss = reporter.last_loss if reporter.last_loss is not None else finite_or_none(output.training_loss)
    events.done(
        time.monotonic() - run_started,
        trainLoss=train_loss,
        trainTokens=train_tokens,
        tokensPerSecond=finite_or_none(train_tokens / train_seconds) if train_seconds > 0 else None,
        steps=int(trainer.state.global_step),
        truncatedExamples=truncated,
    )

