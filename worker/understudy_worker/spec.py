"""Typed specs for each command, checked against the same rules as `src/contracts/worker.ts`.

`parse_spec(raw)` returns a frozen dataclass or raises `SpecError` naming the first bad field with its path
(`training.batchSize`, `conversations[0][1].role`). Unknown keys are ignored, as zod's default object does.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

from .errors import SpecError

COMMANDS = ("train-sft", "train-dpo", "export-merged", "tokenize", "logits", "bench-generate", "export-dataset", "requantize")
# A split name becomes a folder of the saved DatasetDict.
SPLIT_NAME = re.compile(r"^[A-Za-z0-9_]+$")
ROLES = ("system", "user", "assistant")
SCHEDULERS = ("linear", "cosine", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DPO_LOSS_TYPES = ("sigmoid", "ipo", "hinge", "robust")
ALL_LINEAR = "all-linear"
# numpy and torch seeds must fit in an unsigned 32-bit integer.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class GgufBase:
    path: str
    kind: Literal["gguf"] = "gguf"


@dataclass(frozen=True)
class HfDirBase:
    path: str
    kind: Literal["hf-dir"] = "hf-dir"


@dataclass(frozen=True)
class HubBase:
    id: str
    revision: str | None = None
    kind: Literal["hub"] = "hub"


BaseModelRef = Union[GgufBase, HfDirBase, HubBase]


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class LoraSettings:
    r: int
    alpha: float
    dropout: float
    # "all-linear" or an explicit tuple of module names.
    target_modules: str | tuple[str, ...]
    # rsLoRA: scale by alpha / sqrt(r) instead of alpha / r.
    use_rslora: bool = False


@dataclass(frozen=True)
class SftSettings:
    epochs: float
    # -1 (or any value <= 0): run by epochs.
    max_steps: int
    learning_rate: float
    batch_size: int
    gradient_accumulation: int
    max_length: int
    warmup_ratio: float
    scheduler: str
    seed: int
    logging_steps: int
    # 0 lets torch decide.
    threads: int
    # Validation every `eval_steps` optimizer steps (0: never); needs an eval file.
    eval_steps: int = 0
    # Stop after this many evaluations without a better validation loss (0: never stop early).
    early_stopping_patience: int = 0
    # How much lower a validation loss must be to count as better.
    early_stopping_threshold: float = 0.0
    # Validation examples decoded greedily at each evaluation for task accuracy (0: loss only).
    accuracy_sample: int = 0
    # A checkpoint every `save_steps` optimizer steps (0: none); with validation it must be a multiple of eval_steps.
    save_steps: int = 0
    # Checkpoints kept on disk (the best one is always kept as well).
    save_total_limit: int = 2
    # Concatenate each batch into one row with position ids instead of padding (no cross-attention between
    # examples). Pays off with a varlen attention kernel (flash attention on CUDA); with sdpa the packed row's
    # block mask costs more than the padding it saves.
    padding_free: bool = False
    # Batches of similar-length examples (transformers' LengthGroupedSampler): little padding, seeded order.
    group_by_length: bool = True
    # Pack several examples into each max_length row (best-fit decreasing); implies padding-free attention.
    packing: bool = False
    gradient_checkpointing: bool = False
    device: str = "auto"
    precision: str = "auto"


@dataclass(frozen=True)
class TrainSftSpec:
    base: BaseModelRef
    train_path: str
    lora: LoraSettings
    training: SftSettings
    output_dir: str
    # The Jinja chat template to train with (the TypeScript side resolves it; the worker never picks one).
    chat_template: str
    # Validation records (same format as the training file); needed for eval_steps, early stopping and best checkpoint.
    eval_path: str | None = None
    # Checkpoints live here (outside the staging output, so they survive a killed run).
    checkpoint_dir: str | None = None
    # Continue from the newest complete checkpoint in checkpoint_dir.
    resume: bool = False
    command: Literal["train-sft"] = "train-sft"


@dataclass(frozen=True)
class DpoSettings:
    beta: float
    loss_type: str
    epochs: float
    max_steps: int
    learning_rate: float
    batch_size: int
    gradient_accumulation: int
    max_length: int
    warmup_ratio: float
    scheduler: str
    seed: int
    logging_steps: int
    threads: int
    device: str = "auto"
    precision: str = "auto"


@dataclass(frozen=True)
class TrainDpoSpec:
    base: BaseModelRef
    # The SFT adapter (PEFT directory) DPO starts from; a frozen copy of it is the reference model.
    sft_adapter_dir: str
    # JSONL of {prompt: messages, chosen: [assistant message], rejected: [assistant message]}.
    train_path: str
    # Held-out pairs: preference margins measured before and after training.
    eval_path: str
    training: DpoSettings
    output_dir: str
    chat_template: str
    command: Literal["train-dpo"] = "train-dpo"


@dataclass(frozen=True)
class ExportMergedSpec:
    base: BaseModelRef
    adapter_dir: str
    # A new directory: config.json, model.safetensors, tokenizer files, generation_config.json.
    output_dir: str
    chat_template: str
    # "float16" | "bfloat16" | "float32"
    dtype: str = "float16"
    command: Literal["export-merged"] = "export-merged"


@dataclass(frozen=True)
class TokenizeSpec:
    base: BaseModelRef
    conversations: tuple[tuple[ChatMessage, ...], ...]
    # One flag per conversation (a single boolean in the spec applies to all).
    add_generation_prompt: tuple[bool, ...]
    chat_template: str
    command: Literal["tokenize"] = "tokenize"


@dataclass(frozen=True)
class LogitsSpec:
    base: BaseModelRef
    # Each sequence is scored on its own; the answer is at its last position.
    sequences: tuple[tuple[int, ...], ...]
    top_k: int
    adapter_dir: str | None = None
    # With an adapter: also score every sequence with the adapter disabled (one model load for both).
    compare_with_base: bool = False
    command: Literal["logits"] = "logits"


@dataclass(frozen=True)
class BenchGenerateSpec:
    base: BaseModelRef
    # Prompt token ids, each generated from on its own (batch 1).
    sequences: tuple[tuple[int, ...], ...]
    max_new_tokens: int
    # Untimed generations before the timed ones (cycling through the prompts).
    warmup: int
    # torch threads; 0: one per core.
    threads: int
    adapter_dir: str | None = None
    # Always generate `max_new_tokens` (the end-of-turn token is suppressed until then).
    ignore_eos: bool = False
    command: Literal["bench-generate"] = "bench-generate"


@dataclass(frozen=True)
class DatasetSplit:
    name: str
    # A JSONL file: one JSON object per line, the same keys on every line.
    path: str


@dataclass(frozen=True)
class ExportDatasetSpec:
    # In order; the names are unique.
    splits: tuple[DatasetSplit, ...]
    # A new (or empty) directory for the DatasetDict (`save_to_disk`).
    output_dir: str
    command: Literal["export-dataset"] = "export-dataset"


@dataclass(frozen=True)
class RequantizeSpec:
    # A model GGUF (not an adapter).
    input_path: str
    # A new file; written as a .partial beside it and renamed into place.
    output_path: str
    to: Literal["q4_0"] = "q4_0"
    command: Literal["requantize"] = "requantize"


WorkerSpec = Union[TrainSftSpec, TrainDpoSpec, ExportMergedSpec, TokenizeSpec, LogitsSpec, BenchGenerateSpec, ExportDatasetSpec, RequantizeSpec]


class _Node:
    """One JSON object in the spec, with its path for error messages."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise SpecError(path or "spec", f"expected an object, got {_describe(value)}")
        self.value = value
        self.path = path

    def field_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def required(self, key: str) -> Any:
        if key not in self.value:
            raise SpecError(self.field_path(key), "is required")
        return self.value[key]

    def child(self, key: str) -> _Node:
        return _Node(self.required(key), self.field_path(key))

    def string(self, key: str, *, min_length: int = 0) -> str:
        return _string(self.required(key), self.field_path(key), min_length=min_length)

    def optional_string(self, key: str, *, min_length: int = 0) -> str | None:
        # zod's `.optional()` admits a missing key, not null.
        if key not in self.value:
            return None
        return _string(self.value[key], self.field_path(key), min_length=min_length)

    def boolean(self, key: str) -> bool:
        return _boolean(self.required(key), self.field_path(key))

    def optional_boolean(self, key: str) -> bool | None:
        if key not in self.value:
            return None
        return _boolean(self.value[key], self.field_path(key))

    def number(self, key: str, *, minimum: float | None = None, maximum: float | None = None, positive: bool = False) -> float:
        return _number(self.required(key), self.field_path(key), minimum=minimum, maximum=maximum, positive=positive)

    def integer(self, key: str, *, minimum: int | None = None, positive: bool = False) -> int:
        return _integer(self.required(key), self.field_path(key), minimum=minimum, positive=positive)

    def enum(self, key: str, options: tuple[str, ...]) -> str:
        value = self.required(key)
        if value not in options:
            expected = " | ".join(repr(option) for option in options)
            raise SpecError(self.field_path(key), f"expected {expected}, got {_describe(value)}")
        return value

    def array(self, key: str, *, min_length: int = 0) -> list[Any]:
        return _array(self.required(key), self.field_path(key), min_length=min_length)

    def has(self, key: str) -> bool:
        return key in self.value

    def optional_integer(self, key: str, default: int, *, minimum: int | None = None, positive: bool = False) -> int:
        return self.integer(key, minimum=minimum, positive=positive) if key in self.value else default

    def optional_number(self, key: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
        return self.number(key, minimum=minimum, maximum=maximum) if key in self.value else default

    def optional_enum(self, key: str, options: tuple[str, ...], default: str) -> str:
        return self.enum(key, options) if key in self.value else default

    def flag(self, key: str, default: bool) -> bool:
        value = self.optional_boolean(key)
        return default if value is None else value


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"{value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(path, f"expected a boolean, got {_describe(value)}")
    return value


def _string(value: Any, path: str, *, min_length: int) -> str:
    if not isinstance(value, str):
        raise SpecError(path, f"expected a string, got {_describe(value)}")
    if len(value) < min_length:
        raise SpecError(path, f"must have at least {min_length} character(s)")
    return value


def _number(value: Any, path: str, *, minimum: float | None, maximum: float | None, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(path, f"expected a finite number, got {_describe(value)}")
    if positive and not value > 0:
        raise SpecError(path, f"must be positive, got {value!r}")
    if minimum is not None and value < minimum:
        raise SpecError(path, f"must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise SpecError(path, f"must be <= {maximum}, got {value!r}")
    return float(value)


def _integer(value: Any, path: str, *, minimum: int | None, positive: bool) -> int:
    # JSON has one number type: 4.0 is the integer 4 to zod, so accept integral floats.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value):
        raise SpecError(path, f"expected an integer, got {_describe(value)}")
    number = int(value)
    if positive and number <= 0:
        raise SpecError(path, f"must be a positive integer, got {number}")
    if minimum is not None and number < minimum:
        raise SpecError(path, f"must be >= {minimum}, got {number}")
    return number


def _array(value: Any, path: str, *, min_length: int) -> list[Any]:
    if not isinstance(value, list):
        raise SpecError(path, f"expected an array, got {_describe(value)}")
    if len(value) < min_length:
        raise SpecError(path, f"must hold at least {min_length} item(s)")
    return value


def parse_base(node: _Node) -> BaseModelRef:
    kind = node.enum("kind", ("gguf", "hf-dir", "hub"))
    if kind == "gguf":
        return GgufBase(path=node.string("path", min_length=1))
    if kind == "hf-dir":
        return HfDirBase(path=node.string("path", min_length=1))
    return HubBase(id=node.string("id", min_length=1), revision=node.optional_string("revision"))


def parse_message(value: Any, path: str) -> ChatMessage:
    node = _Node(value, path)
    return ChatMessage(role=node.enum("role", ROLES), content=node.string("content"))


def parse_messages(value: Any, path: str, *, min_length: int, exact_length: int | None = None) -> tuple[ChatMessage, ...]:
    items = _array(value, path, min_length=min_length)
    if exact_length is not None and len(items) != exact_length:
        raise SpecError(path, f"must hold exactly {exact_length} item(s), got {len(items)}")
    return tuple(parse_message(item, f"{path}[{index}]") for index, item in enumerate(items))


def parse_prompt_completion(value: Any, path: str = "") -> tuple[tuple[ChatMessage, ...], tuple[ChatMessage, ...]]:
    """One TRL conversational prompt-completion record (`PromptCompletionRecordSchema`)."""
    node = _Node(value, path)
    prompt = parse_messages(node.required("prompt"), node.field_path("prompt"), min_length=1)
    completion = parse_messages(node.required("completion"), node.field_path("completion"), min_length=0, exact_length=1)
    return prompt, completion


def parse_lora(node: _Node) -> LoraSettings:
    raw_targets = node.required("targetModules")
    targets_path = node.field_path("targetModules")
    if raw_targets == ALL_LINEAR:
        targets: str | tuple[str, ...] = ALL_LINEAR
    elif isinstance(raw_targets, list):
        items = _array(raw_targets, targets_path, min_length=1)
        targets = tuple(_string(item, f"{targets_path}[{index}]", min_length=1) for index, item in enumerate(items))
    else:
        raise SpecError(targets_path, f"expected 'all-linear' or an array of module names, got {_describe(raw_targets)}")
    return LoraSettings(
        r=node.integer("r", positive=True),
        alpha=node.number("alpha", positive=True),
        dropout=node.number("dropout", minimum=0, maximum=1),
        target_modules=targets,
        use_rslora=node.flag("useRslora", False),
    )


def parse_training(node: _Node) -> SftSettings:
    seed = node.integer("seed")
    if not 0 <= seed <= MAX_SEED:
        raise SpecError(node.field_path("seed"), f"must be between 0 and {MAX_SEED} for torch and numpy, got {seed}")
    return SftSettings(
        epochs=node.number("epochs", positive=True),
        max_steps=node.integer("maxSteps"),
        learning_rate=node.number("learningRate", positive=True),
        batch_size=node.integer("batchSize", positive=True),
        gradient_accumulation=node.integer("gradientAccumulation", positive=True),
        max_length=node.integer("maxLength", positive=True),
        warmup_ratio=node.number("warmupRatio", minimum=0, maximum=1),
        scheduler=node.enum("scheduler", SCHEDULERS),
        seed=seed,
        logging_steps=node.integer("loggingSteps", positive=True),
        threads=node.integer("threads", minimum=0),
        eval_steps=node.optional_integer("evalSteps", 0, minimum=0),
        early_stopping_patience=node.optional_integer("earlyStoppingPatience", 0, minimum=0),
        early_stopping_threshold=node.optional_number("earlyStoppingThreshold", 0.0, minimum=0),
        accuracy_sample=node.optional_integer("accuracySample", 0, minimum=0),
        save_steps=node.optional_integer("saveSteps", 0, minimum=0),
        save_total_limit=node.optional_integer("saveTotalLimit", 2, positive=True),
        padding_free=node.flag("paddingFree", False),
        group_by_length=node.flag("groupByLength", True),
        packing=node.flag("packing", False),
        gradient_checkpointing=node.flag("gradientCheckpointing", False),
        device=node.optional_enum("device", DEVICES, "auto"),
        precision=node.optional_enum("precision", PRECISIONS, "auto"),
    )


def check_sft_schedule(spec: TrainSftSpec) -> None:
    """Cross-field rules the trainer would otherwise reject mid-run (or silently ignore)."""
    settings = spec.training
    if settings.eval_steps > 0 and spec.eval_path is None:
        raise SpecError("training.evalSteps", "needs evalPath: there is no validation set to evaluate")
    for key, value in (("earlyStoppingPatience", settings.early_stopping_patience), ("accuracySample", settings.accuracy_sample)):
        if value > 0 and settings.eval_steps == 0:
            raise SpecError(f"training.{key}", "needs training.evalSteps > 0 (it acts at each validation)")
    if settings.save_steps > 0 and spec.checkpoint_dir is None:
        raise SpecError("training.saveSteps", "needs checkpointDir: checkpoints must live outside the staging output")
    if settings.save_steps > 0 and settings.eval_steps > 0 and settings.save_steps % settings.eval_steps != 0:
        raise SpecError("training.saveSteps", f"must be a multiple of training.evalSteps ({settings.eval_steps}) so the best checkpoint is one that was validated")
    if spec.resume and spec.checkpoint_dir is None:
        raise SpecError("resume", "needs checkpointDir: there is nowhere to resume from")


def parse_dpo_training(node: _Node) -> DpoSettings:
    seed = node.integer("seed")
    if not 0 <= seed <= MAX_SEED:
        raise SpecError(node.field_path("seed"), f"must be between 0 and {MAX_SEED} for torch and numpy, got {seed}")
    return DpoSettings(
        beta=node.number("beta", positive=True),
        loss_type=node.enum("lossType", DPO_LOSS_TYPES),
        epochs=node.number("epochs", positive=True),
        max_steps=node.integer("maxSteps"),
        learning_rate=node.number("learningRate", positive=True),
        batch_size=node.integer("batchSize", positive=True),
        gradient_accumulation=node.integer("gradientAccumulation", positive=True),
        max_length=node.integer("maxLength", positive=True),
        warmup_ratio=node.number("warmupRatio", minimum=0, maximum=1),
        scheduler=node.enum("scheduler", SCHEDULERS),
        seed=seed,
        logging_steps=node.integer("loggingSteps", positive=True),
        threads=node.integer("threads", minimum=0),
        device=node.optional_enum("device", DEVICES, "auto"),
        precision=node.optional_enum("precision", PRECISIONS, "auto"),
    )


def parse_preference_pair(value: Any, path: str = "") -> tuple[tuple[ChatMessage, ...], ChatMessage, ChatMessage]:
    """One preference record: prompt messages, then one chosen and one rejected assistant message."""
    node = _Node(value, path)
    prompt = parse_messages(node.required("prompt"), node.field_path("prompt"), min_length=1)
    chosen = parse_messages(node.required("chosen"), node.field_path("chosen"), min_length=1, exact_length=1)[0]
    rejected = parse_messages(node.required("rejected"), node.field_path("rejected"), min_length=1, exact_length=1)[0]
    for key, message in (("chosen", chosen), ("rejected", rejected)):
        if message.role != "assistant":
            raise SpecError(f"{node.field_path(key)}[0].role", f"must be 'assistant', got {message.role!r}")
    if chosen.content == rejected.content:
        raise SpecError(node.field_path("rejected"), "is the same answer as chosen: the pair prefers nothing")
    return prompt, chosen, rejected


def parse_spec(raw: Any, expected_command: str | None = None) -> WorkerSpec:
    """Validate a decoded spec document; `expected_command` is the CLI command, which must agree with it."""
    root = _Node(raw, "")
    command = root.enum("command", COMMANDS)
    if expected_command is not None and command != expected_command:
        raise SpecError("command", f"the spec is for {command!r} but the worker was asked to run {expected_command!r}")
    if command == "export-dataset":
        return parse_export_dataset(root)
    if command == "requantize":
        # No base: the input file is the model.
        return RequantizeSpec(
            input_path=root.string("inputPath", min_length=1),
            output_path=root.string("outputPath", min_length=1),
            to=root.optional_enum("to", ("q4_0",), "q4_0"),
        )
    base = parse_base(root.child("base"))
    if command == "train-sft":
        sft = TrainSftSpec(
            base=base,
            train_path=root.string("trainPath", min_length=1),
            lora=parse_lora(root.child("lora")),
            training=parse_training(root.child("training")),
            output_dir=root.string("outputDir", min_length=1),
            chat_template=root.string("chatTemplate", min_length=1),
            eval_path=root.optional_string("evalPath", min_length=1),
            checkpoint_dir=root.optional_string("checkpointDir", min_length=1),
            resume=root.flag("resume", False),
        )
        check_sft_schedule(sft)
        return sft
    if command == "train-dpo":
        return TrainDpoSpec(
            base=base,
            sft_adapter_dir=root.string("sftAdapterDir", min_length=1),
            train_path=root.string("trainPath", min_length=1),
            eval_path=root.string("evalPath", min_length=1),
            training=parse_dpo_training(root.child("training")),
            output_dir=root.string("outputDir", min_length=1),
            chat_template=root.string("chatTemplate", min_length=1),
        )
    if command == "export-merged":
        return ExportMergedSpec(
            base=base,
            adapter_dir=root.string("adapterDir", min_length=1),
            output_dir=root.string("outputDir", min_length=1),
            chat_template=root.string("chatTemplate", min_length=1),
            dtype=root.optional_enum("dtype", ("float16", "bfloat16", "float32"), "float16"),
        )
    if command == "tokenize":
        conversations = root.array("conversations", min_length=1)
        return TokenizeSpec(
            base=base,
            conversations=tuple(
                parse_messages(conversation, f"conversations[{index}]", min_length=1)
                for index, conversation in enumerate(conversations)
            ),
            add_generation_prompt=parse_generation_flags(root, len(conversations)),
            chat_template=root.string("chatTemplate", min_length=1),
        )
    if command == "bench-generate":
        return parse_bench_generate(root, base)
    sequences = root.array("sequences", min_length=1)
    adapter_dir = root.optional_string("adapterDir", min_length=1)
    compare_with_base = root.optional_boolean("compareWithBase") or False
    if compare_with_base and adapter_dir is None:
        raise SpecError("compareWithBase", "needs adapterDir: without an adapter there is nothing to compare")
    return LogitsSpec(
        base=base,
        adapter_dir=adapter_dir,
        sequences=tuple(
            tuple(
                _integer(item, f"sequences[{index}][{position}]", minimum=0, positive=False)
                for position, item in enumerate(_array(sequence, f"sequences[{index}]", min_length=1))
            )
            for index, sequence in enumerate(sequences)
        ),
        top_k=root.integer("topK", positive=True),
        compare_with_base=compare_with_base,
    )


def parse_token_sequences(root: _Node) -> tuple[tuple[int, ...], ...]:
    return tuple(
        tuple(
            _integer(item, f"sequences[{index}][{position}]", minimum=0, positive=False)
            for position, item in enumerate(_array(sequence, f"sequences[{index}]", min_length=1))
        )
        for index, sequence in enumerate(root.array("sequences", min_length=1))
    )


def parse_bench_generate(root: _Node, base: BaseModelRef) -> BenchGenerateSpec:
    return BenchGenerateSpec(
        base=base,
        sequences=parse_token_sequences(root),
        max_new_tokens=root.integer("maxNewTokens", positive=True),
        warmup=root.integer("warmup", minimum=0),
        threads=root.integer("threads", minimum=0),
        adapter_dir=root.optional_string("adapterDir", min_length=1),
        ignore_eos=root.optional_boolean("ignoreEos") or False,
    )


def parse_export_dataset(root: _Node) -> ExportDatasetSpec:
    """`export-dataset` has no base: it only turns JSONL files into a DatasetDict."""
    splits: list[DatasetSplit] = []
    for index, item in enumerate(root.array("splits", min_length=1)):
        node = _Node(item, f"splits[{index}]")
        name = node.string("name", min_length=1)
        if not SPLIT_NAME.match(name):
            raise SpecError(node.field_path("name"), f"must be letters, digits and _, got {name!r}")
        if any(split.name == name for split in splits):
            raise SpecError(node.field_path("name"), f"split names must be unique, {name!r} is repeated")
        splits.append(DatasetSplit(name=name, path=node.string("path", min_length=1)))
    return ExportDatasetSpec(splits=tuple(splits), output_dir=root.string("outputDir", min_length=1))


def parse_generation_flags(root: _Node, count: int) -> tuple[bool, ...]:
    """`addGenerationPrompt`: one boolean for every conversation, or an array with one per conversation."""
    value = root.required("addGenerationPrompt")
    path = root.field_path("addGenerationPrompt")
    if isinstance(value, bool):
        return (value,) * count
    if not isinstance(value, list):
        raise SpecError(path, f"expected a boolean or an array of booleans, got {_describe(value)}")
    if len(value) != count:
        raise SpecError(path, f"must hold one flag per conversation ({count}), got {len(value)}")
    return tuple(_boolean(item, f"{path}[{index}]") for index, item in enumerate(value))


def load_spec_file(path: str, expected_command: str | None = None) -> WorkerSpec:
    """Read and validate a spec file; `-` reads stdin."""
    try:
        text = Path(path).read_text(encoding="utf-8") if path != "-" else _read_stdin()
    except OSError as error:
        raise SpecError("", f"cannot read spec file {path!r}: {error.strerror or error}") from error
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise SpecError("", f"spec file {path!r} is not JSON: line {error.lineno} column {error.colno}: {error.msg}") from error
    return parse_spec(raw, expected_command)


def _read_stdin() -> str:
    import sys

    return sys.stdin.read()
