"""`train-sft`: LoRA supervised fine-tuning with TRL's SFTTrainer, then PEFT and GGUF adapter export."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifacts import publish, sha256_directory, sha256_file, signals_blocked, staging_directory
from .base_model import load_model, load_tokenizer, prepare_environment
from .checkpoints import newest_sealed, seal
from .errors import DataError, OutOfMemory, SpecError
from .export_gguf import BaseLayout, check_lora_config, export_peft_dir, gguf_weight_name
from .hardware import Placement, resolve_placement
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


def peak_rss_bytes() -> int:
    """The worker's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


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


def publish_adapter(
    model: Any, tokenizer: Any, staging: Path, output_dir: str, layout: BaseLayout, name: str, events: EventStream, adapters: list[str] | None = None
) -> None:
    """Save the PEFT adapter (with the training tokenizer files, so serving can compare chat templates) and its GGUF
    export in staging, then rename both into `output_dir` together and report them with their sha256."""
    peft_dir = staging / PEFT_DIR_NAME
    model.save_pretrained(str(peft_dir), selected_adapters=adapters, save_embedding_layers=False)
    tokenizer.save_pretrained(str(peft_dir))
    gguf_path = staging / GGUF_FILE_NAME
    summary = export_peft_dir(peft_dir, gguf_path, layout, name=name)
    events.log(f"wrote GGUF LoRA: {len(summary.tensor_names)} tensors, adapter.lora.alpha={summary.alpha:g}")
    peft_sha = sha256_directory(peft_dir)
    gguf_sha = sha256_file(gguf_path)
    final_dir = Path(output_dir).resolve()
    with signals_blocked():
        publish(peft_dir, final_dir / PEFT_DIR_NAME)
        publish(gguf_path, final_dir / GGUF_FILE_NAME)
    events.artifact("peft-adapter", str(final_dir / PEFT_DIR_NAME), peft_sha)
    events.artifact("gguf-lora", str(final_dir / GGUF_FILE_NAME), gguf_sha)


def make_progress_callback(events: EventStream, token_counter: "TokenCounter") -> Any:
    from transformers import TrainerCallback

    class ProgressReporter(TrainerCallback):
        """Turns the trainer's log calls into `progress` events, with throughput over real (non-padding) tokens."""

        def __init__(self) -> None:
            self.started_at = time.monotonic()
            self.first_step = 0
            self.last_loss: float | None = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started_at = time.monotonic()
            # A resumed run starts at its checkpoint's step: rates and ETA count only the steps run here.
            self.first_step = state.global_step
            token_counter.reset()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # Always log the last step, so the final loss window is reported even off the logging grid.
            if state.max_steps > 0 and state.global_step >= state.max_steps:
                control.should_log = True

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
            if not logs or "loss" not in logs:
                return
            elapsed = max(time.monotonic() - self.started_at, 1e-9)
            step = state.global_step
            done_here = step - self.first_step
            self.last_loss = finite_or_none(logs["loss"])
            events.progress(
                step=step,
                total_steps=state.max_steps,
                epoch=state.epoch or 0.0,
                loss=logs["loss"],
                learning_rate=logs.get("learning_rate"),
                tokens_per_second=token_counter.tokens / elapsed,
                eta_seconds=(state.max_steps - step) * elapsed / done_here if done_here > 0 else None,
            )

    return ProgressReporter()


class TokenCounter:
    """Wraps the data collator and counts the real tokens of every batch it builds (padding never counted)."""

    def __init__(self, collator: Any) -> None:
        self.collator = collator
        self.tokens = 0

    def reset(self) -> None:
        self.tokens = 0

    def __call__(self, examples: list[dict[str, Any]]) -> Any:
        # SFT rows carry input_ids; DPO rows carry prompt_ids, chosen_ids and rejected_ids (each trained on).
        self.tokens += sum(len(value) for example in examples for key, value in example.items() if key.endswith("_ids") and isinstance(value, list))
        return self.collator(examples)


def make_trainer_class() -> Any:
    """TRL's SFTTrainer with a leaner loss: the same next-token cross-entropy on completion tokens, computed
    from the decoder's hidden states at those positions only.

    The stock path projects every position onto the whole vocabulary (49k-262k columns) and then, for its
    logged metrics, takes the entropy and argmax over all of them; prompt positions carry no loss, so that work
    is thrown away. Here the output layer runs on the positions with labels, and no per-step metrics are taken.
    Several processes (DDP/FSDP) keep the stock path, since calling the decoder directly would bypass the
    wrapper's gradient synchronisation.
    """
    import torch
    import torch.nn.functional as functional
    from trl import SFTTrainer

    class UnderstudySFTTrainer(SFTTrainer):  # type: ignore[misc]
        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
            if self.accelerator.num_processes > 1 or "labels" not in inputs:
                return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
            causal = self.accelerator.unwrap_model(model)
            causal = causal.get_base_model() if hasattr(causal, "get_base_model") else causal
            labels = inputs["labels"]
            model_inputs = {key: value for key, value in inputs.items() if key != "labels"}
            hidden = causal.model(**model_inputs, use_cache=False).last_hidden_state
            targets = labels[:, 1:]
            mask = targets != -100
            logits = causal.get_output_embeddings()(hidden[:, :-1][mask]).float()
            softcap = getattr(causal.config, "final_logit_softcapping", None)
            if softcap:
                logits = torch.tanh(logits / softcap) * softcap
            total = functional.cross_entropy(logits, targets[mask], reduction="sum")
            count = num_items_in_batch if num_items_in_batch is not None else mask.sum()
            if isinstance(count, torch.Tensor):
                count = count.to(total.device)
            loss = total / count
            return (loss, {"loss": loss}) if return_outputs else loss

    return UnderstudySFTTrainer


def make_validation_callback(
    events: EventStream, tokenizer: Any, sample: list[dict[str, Any]], patience: int, threshold: float
) -> Any:
    """At each evaluation: task accuracy on a small sample (greedy decoding), best-so-far tracking, early stopping."""
    from transformers import TrainerCallback

    class ValidationReporter(TrainerCallback):
        def __init__(self) -> None:
            self.best_loss: float | None = None
            self.best_step: int | None = None
            self.bad_evaluations = 0
            self.stopped_early = False
            self.last_loss: float | None = None
            self.last_accuracy: float | None = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # On resume the trainer state carries the best metric so far; keep counting from it.
            if state.best_metric is not None and self.best_loss is None:
                self.best_loss = float(state.best_metric)
                self.best_step = state.best_global_step

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, model: Any = None, **kwargs: Any) -> None:
            loss = finite_or_none((metrics or {}).get("eval_loss"))
            accuracy = task_accuracy(model, tokenizer, sample) if sample and model is not None else None
            self.last_loss, self.last_accuracy = loss, accuracy
            # "best" is the lowest loss so far (the checkpoint kept); early stopping counts only improvements
            # larger than the threshold, as transformers' EarlyStoppingCallback does.
            improved = loss is not None and (self.best_loss is None or loss < self.best_loss)
            significant = loss is not None and (self.best_loss is None or loss < self.best_loss - threshold)
            self.bad_evaluations = 0 if significant else self.bad_evaluations + 1
            if improved:
                self.best_loss, self.best_step = loss, state.global_step
            events.emit(
                "eval",
                step=int(state.global_step),
                evalLoss=loss,
                accuracy=accuracy,
                accuracySample=len(sample),
                best=improved,
            )
            if patience > 0 and self.bad_evaluations >= patience:
                self.stopped_early = True
                control.should_training_stop = True
                events.log(f"early stop at step {state.global_step}: validation loss has not improved by more than {threshold:g} for {patience} evaluations (best {self.best_loss:.4f} at step {self.best_step})")

    return ValidationReporter()


def task_accuracy(model: Any, tokenizer: Any, sample: list[dict[str, Any]]) -> float:
    """Share of sample prompts whose greedy completion equals the reference completion (stripped)."""
    import torch

    was_training = model.training
    model.eval()
    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        prompts = [tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True) for row in sample]
        references = [row["completion"][0]["content"].strip() for row in sample]
        longest = max(len(tokenizer(reference, add_special_tokens=False)["input_ids"]) for reference in references)
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.no_grad():
            output = model.generate(**encoded, max_new_tokens=longest + 2, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        texts = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1]:], skip_special_tokens=True)
        return sum(text.strip() == reference for text, reference in zip(texts, references)) / len(sample)
    finally:
        tokenizer.padding_side = previous_side
        if was_training:
            model.train()


def make_checkpoint_sealer(events: EventStream) -> Any:
    from transformers import TrainerCallback

    class CheckpointSealer(TrainerCallback):
        """After the trainer has written a checkpoint, seal it (`checkpoints.py`) and report it."""

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            directory = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if directory.is_dir():
                seal(directory, state.global_step)
                events.emit("checkpoint", step=int(state.global_step), path=str(directory))

    return CheckpointSealer()


def run(spec: TrainSftSpec, events: EventStream) -> None:
    run_started = time.monotonic()
    settings = spec.training
    prepare_environment(spec.base)
    import torch

    placement: Placement = resolve_placement(settings.device, settings.precision)
    events.started("train-sft", placement.description, torch.__version__)
    if settings.threads > 0:
        torch.set_num_threads(settings.threads)
    rows = read_records(spec.train_path)
    eval_rows = read_records(spec.eval_path) if spec.eval_path is not None else []
    if settings.accuracy_sample > len(eval_rows) and eval_rows:
        events.log(f"accuracySample={settings.accuracy_sample} but the validation set holds {len(eval_rows)}: using all of them")

    resume_from = None
    if spec.resume:
        assert spec.checkpoint_dir is not None
        resume_from = newest_sealed(
            Path(spec.checkpoint_dir),
            on_discard=lambda checkpoint, problem: events.log(f"discarded {checkpoint.path.name}: {problem}"),
        )
        if resume_from is None:
            raise SpecError("resume", f"no complete checkpoint in {spec.checkpoint_dir}: nothing to resume (start the run again without --resume)")
        events.log(f"resuming from {resume_from.path.name} (step {resume_from.step})")

    import datasets
    import transformers
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import LoraLayer
    from trl import SFTConfig
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

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
        use_rslora=spec.lora.use_rslora,
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
    scaling = "alpha/sqrt(r) (rsLoRA)" if spec.lora.use_rslora else "alpha/r"
    events.log(f"LoRA r={spec.lora.r} on {len(adapted)} modules, scale {scaling}: {trainable:,} trainable of {total:,} parameters")

    truncated, untruncated_tokens = count_tokens(rows, tokenizer, settings.max_length)
    events.log(f"{len(rows)} examples, {untruncated_tokens} tokens; {truncated} longer than maxLength={settings.max_length} (truncated)")
    validating = settings.eval_steps > 0
    checkpointing = settings.save_steps > 0
    events.log(
        f"device {placement.description}, precision {placement.precision}, "
        f"{'packing' if settings.packing else 'padding-free batches' if settings.padding_free else 'padded batches'}"
        f"{', grouped by length' if settings.group_by_length and not settings.packing else ''}, "
        f"gradient checkpointing {'on' if settings.gradient_checkpointing else 'off'}"
    )

    with staging_directory(spec.output_dir) as staging:
        config = SFTConfig(
            output_dir=spec.checkpoint_dir if spec.checkpoint_dir is not None else str(staging / "trainer"),
            num_train_epochs=settings.epochs,
            max_steps=settings.max_steps if settings.max_steps > 0 else -1,
            learning_rate=settings.learning_rate,
            per_device_train_batch_size=settings.batch_size,
            per_device_eval_batch_size=settings.batch_size,
            gradient_accumulation_steps=settings.gradient_accumulation,
            max_length=settings.max_length,
            warmup_steps=min(settings.warmup_ratio, _LARGEST_WARMUP_RATIO),
            lr_scheduler_type=settings.scheduler,
            seed=settings.seed,
            data_seed=settings.seed,
            logging_strategy="steps",
            logging_steps=settings.logging_steps,
            save_strategy="steps" if checkpointing else "no",
            save_steps=settings.save_steps if checkpointing else 500,
            save_total_limit=settings.save_total_limit,
            eval_strategy="steps" if validating else "no",
            eval_steps=settings.eval_steps if validating else None,
            load_best_model_at_end=validating and checkpointing,
            metric_for_best_model="eval_loss" if validating else None,
            greater_is_better=False if validating else None,
            report_to="none",
            disable_tqdm=True,
            use_cpu=placement.use_cpu,
            gradient_checkpointing=settings.gradient_checkpointing,
            bf16=placement.precision == "bf16",
            fp16=placement.precision == "fp16",
            packing=settings.packing,
            packing_strategy="bfd",
            train_sampling_strategy="group_by_length" if settings.group_by_length and not settings.packing else "random",
            completion_only_loss=True,
            dataloader_num_workers=0,
            dataloader_pin_memory=placement.device == "cuda",
            include_num_input_tokens_seen="non_padding",
            prediction_loss_only=True,
        )
        sample = eval_rows[: settings.accuracy_sample] if settings.accuracy_sample > 0 else []
        validation = make_validation_callback(events, tokenizer, sample, settings.early_stopping_patience, settings.early_stopping_threshold) if validating else None
        trainer = make_trainer_class()(
            model=model,
            args=config,
            train_dataset=datasets.Dataset.from_list(rows),
            eval_dataset=datasets.Dataset.from_list(eval_rows) if validating else None,
            processing_class=tokenizer,
        )
        # TRL truncates to max_length while preparing the data, but refuses padding_free without packing up
        # front; the prepared rows are already cut to max_length, so the padding-free collator is swapped in here.
        collator = trainer.data_collator
        if settings.padding_free and not settings.packing:
            collator = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)
        token_counter = TokenCounter(collator)
        trainer.data_collator = token_counter
        reporter = make_progress_callback(events, token_counter)
        trainer.add_callback(reporter)
        if validation is not None:
            trainer.add_callback(validation)
        if checkpointing:
            trainer.add_callback(make_checkpoint_sealer(events))
        dropped = len(rows) - len(trainer.train_dataset)
        if len(trainer.train_dataset) == 0:
            raise DataError(spec.train_path, None, f"no example keeps a completion token within maxLength={settings.max_length}: raise training.maxLength or shorten the prompts")
        if dropped and not settings.packing:
            events.log(f"{dropped} examples dropped: truncation at maxLength left no completion tokens to learn from")

        train_started = time.monotonic()
        try:
            output = trainer.train(resume_from_checkpoint=str(resume_from.path) if resume_from is not None else None)
        except (torch.OutOfMemoryError, MemoryError) as error:
            raise OutOfMemory(
                f"out of memory on {placement.description} at batchSize={settings.batch_size}, maxLength={settings.max_length}: "
                "lower training.batchSize (raise gradientAccumulation to keep the effective batch), lower maxLength, "
                "or set gradientCheckpointing: true; the newest sealed checkpoint, if any, can be resumed"
            ) from error
        train_seconds = time.monotonic() - train_started
        train_tokens = token_counter.tokens

        if not trainer.is_world_process_zero():
            return
        publish_adapter(model, tokenizer, staging, spec.output_dir, layout, f"understudy LoRA r={spec.lora.r}", events)

    train_loss = reporter.last_loss if reporter.last_loss is not None else finite_or_none(output.training_loss)
    best_step = trainer.state.best_global_step if validating else None
    events.done(
        time.monotonic() - run_started,
        trainLoss=train_loss,
        trainTokens=train_tokens,
        tokensPerSecond=finite_or_none(train_tokens / train_seconds) if train_seconds > 0 else None,
        steps=int(trainer.state.global_step),
        truncatedExamples=truncated,
        evalLoss=validation.last_loss if validation is not None else None,
        evalAccuracy=validation.last_accuracy if validation is not None else None,
        bestStep=int(best_step) if best_step is not None else (validation.best_step if validation is not None else None),
        bestEvalLoss=finite_or_none(trainer.state.best_metric) if validating and trainer.state.best_metric is not None else (validation.best_loss if validation is not None else None),
        stoppedEarly=validation.stopped_early if validation is not None else False,
        resumedFromStep=resume_from.step if resume_from is not None else None,
        device=placement.device,
        precision=placement.precision,
        peakRssBytes=peak_rss_bytes(),
    )
