"""Spec validation mirrors src/contracts/worker.ts and names the offending field."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from understudy_worker.errors import SpecError
from understudy_worker.spec import GgufBase, HubBase, LogitsSpec, TokenizeSpec, TrainSftSpec, parse_spec
from worker_cli import parse_events, worker_command, worker_env

TRAIN: dict[str, Any] = {
    "command": "train-sft",
    "base": {"kind": "gguf", "path": "/models/base.gguf"},
    "trainPath": "/data/train.jsonl",
    "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "targetModules": "all-linear"},
    "training": {
        "epochs": 2,
        "maxSteps": -1,
        "learningRate": 2e-4,
        "batchSize": 8,
        "gradientAccumulation": 1,
        "maxLength": 512,
        "warmupRatio": 0.03,
        "scheduler": "cosine",
        "seed": 42,
        "loggingSteps": 10,
        "threads": 0,
    },
    "outputDir": "/runs/1",
    "chatTemplate": "{% for message in messages %}{{ message['content'] }}{% endfor %}",
}
TOKENIZE: dict[str, Any] = {
    "command": "tokenize",
    "base": {"kind": "hub", "id": "HuggingFaceTB/SmolLM2-135M-Instruct"},
    "conversations": [[{"role": "user", "content": "hi"}]],
    "addGenerationPrompt": True,
    "chatTemplate": "{{ messages[0]['content'] }}",
}
LOGITS: dict[str, Any] = {
    "command": "logits",
    "base": {"kind": "hf-dir", "path": "/models/smol"},
    "sequences": [[1, 2, 3]],
    "topK": 5,
}


def with_change(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A deep copy with `path` set to `value`, or removed when `value` is `...`."""
    changed = copy.deepcopy(document)
    target = changed
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


def test_valid_specs_parse_into_typed_dataclasses() -> None:
    train = parse_spec(TRAIN)
    assert isinstance(train, TrainSftSpec)
    assert train.base == GgufBase(path="/models/base.gguf")
    assert train.lora.target_modules == "all-linear"
    assert train.training.batch_size == 8 and train.training.scheduler == "cosine"
    assert train.chat_template == TRAIN["chatTemplate"]

    tokenize = parse_spec(TOKENIZE)
    assert isinstance(tokenize, TokenizeSpec)
    assert tokenize.base == HubBase(id="HuggingFaceTB/SmolLM2-135M-Instruct", revision=None)
    assert tokenize.conversations[0][0].role == "user"
    assert tokenize.add_generation_prompt == (True,) and tokenize.chat_template == TOKENIZE["chatTemplate"]
    per_conversation = parse_spec(with_change(with_change(TOKENIZE, ("conversations",), [[{"role": "user", "content": "a"}]] * 2), ("addGenerationPrompt",), [True, False]))
    assert isinstance(per_conversation, TokenizeSpec) and per_conversation.add_generation_prompt == (True, False)

    logits = parse_spec(with_change(with_change(LOGITS, ("adapterDir",), "/runs/1/peft"), ("compareWithBase",), True))
    assert isinstance(logits, LogitsSpec)
    assert logits.sequences == ((1, 2, 3),) and logits.adapter_dir == "/runs/1/peft" and logits.compare_with_base
    plain = parse_spec(LOGITS)
    assert isinstance(plain, LogitsSpec) and not plain.compare_with_base


def test_integral_floats_count_as_integers_and_unknown_keys_are_ignored() -> None:
    spec = parse_spec(with_change(with_change(TRAIN, ("training", "batchSize"), 8.0), ("extra",), True))
    assert isinstance(spec, TrainSftSpec) and spec.training.batch_size == 8
    lora_list = parse_spec(with_change(TRAIN, ("lora", "targetModules"), ["q_proj", "v_proj"]))
    assert isinstance(lora_list, TrainSftSpec) and lora_list.lora.target_modules == ("q_proj", "v_proj")


@pytest.mark.parametrize(
    ("document", "path", "value", "field"),
    [
        (TRAIN, ("command",), "train", "command"),
        (TRAIN, ("base", "kind"), "ollama", "base.kind"),
        (TRAIN, ("base", "path"), "", "base.path"),
        (TRAIN, ("trainPath",), ..., "trainPath"),
        (TRAIN, ("outputDir",), 3, "outputDir"),
        (TRAIN, ("lora", "r"), 0, "lora.r"),
        (TRAIN, ("lora", "r"), 8.5, "lora.r"),
        (TRAIN, ("lora", "alpha"), -1, "lora.alpha"),
        (TRAIN, ("lora", "dropout"), 1.5, "lora.dropout"),
        (TRAIN, ("lora", "targetModules"), [], "lora.targetModules"),
        (TRAIN, ("lora", "targetModules"), ["q_proj", ""], "lora.targetModules[1]"),
        (TRAIN, ("lora", "targetModules"), "all", "lora.targetModules"),
        (TRAIN, ("training", "batchSize"), 0, "training.batchSize"),
        (TRAIN, ("training", "batchSize"), True, "training.batchSize"),
        (TRAIN, ("training", "maxSteps"), 1.5, "training.maxSteps"),
        (TRAIN, ("training", "epochs"), 0, "training.epochs"),
        (TRAIN, ("training", "warmupRatio"), 2, "training.warmupRatio"),
        (TRAIN, ("training", "scheduler"), "polynomial", "training.scheduler"),
        (TRAIN, ("training", "threads"), -1, "training.threads"),
        (TRAIN, ("training", "seed"), -3, "training.seed"),
        (TRAIN, ("training", "learningRate"), float("nan"), "training.learningRate"),
        (TRAIN, ("training",), ..., "training"),
        (TOKENIZE, ("conversations",), [], "conversations"),
        (TOKENIZE, ("conversations",), [[]], "conversations[0]"),
        (TOKENIZE, ("conversations", 0, 0, "role"), "tool", "conversations[0][0].role"),
        (TOKENIZE, ("conversations", 0, 0, "content"), None, "conversations[0][0].content"),
        (TOKENIZE, ("addGenerationPrompt",), "yes", "addGenerationPrompt"),
        (TOKENIZE, ("base", "id"), ..., "base.id"),
        (TOKENIZE, ("base", "revision"), None, "base.revision"),
        (TRAIN, ("chatTemplate",), ..., "chatTemplate"),
        (TRAIN, ("chatTemplate",), "", "chatTemplate"),
        (TOKENIZE, ("chatTemplate",), 7, "chatTemplate"),
        (TOKENIZE, ("addGenerationPrompt",), [True, False], "addGenerationPrompt"),
        (TOKENIZE, ("addGenerationPrompt",), ["yes"], "addGenerationPrompt[0]"),
        (LOGITS, ("sequences",), [], "sequences"),
        (LOGITS, ("sequences",), [[]], "sequences[0]"),
        (LOGITS, ("sequences",), [[1], [1, -2]], "sequences[1][1]"),
        (LOGITS, ("sequences",), [1, 2], "sequences[0]"),
        (LOGITS, ("compareWithBase",), True, "compareWithBase"),
        (LOGITS, ("compareWithBase",), "yes", "compareWithBase"),
        (LOGITS, ("topK",), 0, "topK"),
        (LOGITS, ("adapterDir",), "", "adapterDir"),
    ],
)
def test_invalid_specs_name_the_field(document: dict[str, Any], path: tuple[Any, ...], value: Any, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(with_change(document, path, value))
    assert caught.value.field == field
    assert field in str(caught.value)


def test_spec_must_be_for_the_command_the_cli_runs() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(TOKENIZE, expected_command="logits")
    assert caught.value.field == "command"


def test_cli_reports_a_bad_spec_as_an_error_event_with_exit_code_2(tmp_path: Path) -> None:
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(with_change(TRAIN, ("training", "batchSize"), 0)), encoding="utf-8")
    completed = subprocess.run(
        worker_command("train-sft", spec_path), cwd=tmp_path, env=worker_env(), capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    events = parse_events(completed.stdout)
    assert [event["event"] for event in events] == ["error"]
    assert events[0]["errorType"] == "SpecError"
    assert "training.batchSize" in events[0]["message"]


def test_cli_reports_unreadable_spec_and_usage_errors(tmp_path: Path) -> None:
    missing = subprocess.run(
        worker_command("tokenize", tmp_path / "absent.json"), cwd=tmp_path, env=worker_env(), capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2
    assert parse_events(missing.stdout)[0]["errorType"] == "SpecError"

    usage = subprocess.run(
        worker_command("fine-tune", tmp_path / "absent.json"), cwd=tmp_path, env=worker_env(), capture_output=True, text=True, timeout=60
    )
    assert usage.returncode == 2
    assert parse_events(usage.stdout)[0]["errorType"] == "UsageError"


def test_preference_pairs_are_checked_line_by_line(tmp_path) -> None:
    import json as _json

    from understudy_worker.errors import DataError
    from understudy_worker.train_dpo import read_pairs

    good = {"prompt": [{"role": "user", "content": "lost my card"}], "chosen": [{"role": "assistant", "content": "lost_or_stolen_card"}], "rejected": [{"role": "assistant", "content": "card_arrival"}]}
    same = {**good, "rejected": good["chosen"]}
    wrong_role = {**good, "chosen": [{"role": "user", "content": "x"}]}
    path = tmp_path / "pairs.jsonl"
    path.write_text(_json.dumps(good) + "\n" + _json.dumps(same) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.jsonl:2: rejected: is the same answer as chosen"):
        read_pairs(str(path))
    path.write_text(_json.dumps(wrong_role) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.jsonl:1: chosen\[0\].role: must be 'assistant'"):
        read_pairs(str(path))
    path.write_text(_json.dumps(good) + "\n", encoding="utf-8")
    assert read_pairs(str(path))[0]["rejected"] == [{"role": "assistant", "content": "card_arrival"}]
