"""Validation while training, sealed checkpoints, and resuming a run killed with SIGKILL (real TRL steps)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from training_data import banking_records, train_spec, write_jsonl
from understudy_worker.checkpoints import SEAL_NAME, newest_sealed, seal, seal_problem
from worker_cli import WorkerRun, parse_events, run_worker, worker_command, worker_env

# Validation records: the same four labels, asked differently from the training questions.
VALIDATION = [
    ("card_arrival", "Where is the card you sent me?"),
    ("exchange_rate", "Which rate applies when I pay in yen?"),
    ("lost_or_stolen_card", "My purse with the card is gone."),
    ("top_up_failed", "Adding funds keeps failing."),
]


def validation_records() -> list[dict[str, Any]]:
    system = banking_records()[0]["prompt"][0]
    return [
        {"prompt": [system, {"role": "user", "content": question}], "completion": [{"role": "assistant", "content": label}]}
        for label, question in VALIDATION
    ]


def checkpointed_spec(directory: Path, base_ref: dict[str, str], chat_template: str, **training: Any) -> dict[str, Any]:
    train_path = write_jsonl(directory / "train.jsonl", banking_records())
    eval_path = write_jsonl(directory / "validation.jsonl", validation_records())
    spec = train_spec(base_ref, train_path, directory / "out", chat_template, **{
        "maxSteps": 6, "loggingSteps": 1, "evalSteps": 2, "saveSteps": 2, "saveTotalLimit": 2, "accuracySample": 4, **training,
    })
    spec["lora"]["dropout"] = 0.1  # dropout draws random numbers: resume must restore the RNG state too
    spec["evalPath"] = str(eval_path)
    spec["checkpointDir"] = str(directory / "checkpoints")
    return spec


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, base_ref: dict[str, str], chat_template: str) -> WorkerRun:
    directory = tmp_path_factory.mktemp("uninterrupted")
    run = run_worker("train-sft", checkpointed_spec(directory, base_ref, chat_template), directory)
    assert run.returncode == 0, f"{run.events[-1:]}\n{run.stderr[-3000:]}"
    return run


def test_validation_runs_every_eval_steps_with_loss_and_accuracy(uninterrupted: WorkerRun) -> None:
    evals = uninterrupted.of("eval")
    assert [event["step"] for event in evals] == [2, 4, 6]
    for event in evals:
        assert math.isfinite(event["evalLoss"]) and event["evalLoss"] > 0
        assert event["accuracySample"] == 4
        assert event["accuracy"] is not None and 0 <= event["accuracy"] <= 1
    best = min(evals, key=lambda event: event["evalLoss"])
    done = uninterrupted.one("done")
    # The best checkpoint is the one with the lowest validation loss, and it is what the adapter holds.
    assert done["bestStep"] == best["step"]
    assert done["bestEvalLoss"] == pytest.approx(best["evalLoss"], rel=1e-6)
    assert done["stoppedEarly"] is False and done["resumedFromStep"] is None
    # `precision: auto` is fp32 on every CPU: the Trainer's bf16 flag does not change the CPU arithmetic here.
    assert done["device"] == "cpu" and done["precision"] == "fp32"


def test_checkpoints_are_sealed_and_rotated(uninterrupted: WorkerRun, tmp_path: Path) -> None:
    reported = uninterrupted.of("checkpoint")
    assert [event["step"] for event in reported] == [2, 4, 6]
    remaining = sorted(Path(reported[0]["path"]).parent.glob("checkpoint-*"))
    # saveTotalLimit=2, and the best checkpoint is always kept.
    assert 1 <= len(remaining) <= 3
    for directory in remaining:
        assert seal_problem(directory) is None
        names = set(json.loads((directory / SEAL_NAME).read_text())["files"])
        assert {"adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json"} <= names
        assert any(name.startswith("rng_state") for name in names)


def test_a_half_written_checkpoint_is_never_loaded(tmp_path: Path) -> None:
    good = tmp_path / "checkpoint-2"
    good.mkdir()
    (good / "adapter_model.safetensors").write_bytes(b"x" * 100)
    seal(good, 2)
    unsealed = tmp_path / "checkpoint-4"
    unsealed.mkdir()
    (unsealed / "optimizer.pt").write_bytes(b"partial")
    tampered = tmp_path / "checkpoint-3"
    tampered.mkdir()
    (tampered / "adapter_model.safetensors").write_bytes(b"y" * 100)
    seal(tampered, 3)
    (tampered / "adapter_model.safetensors").write_bytes(b"y" * 50)  # cut short after sealing
    discarded: list[tuple[int, str]] = []
    chosen = newest_sealed(tmp_path, on_discard=lambda checkpoint, problem: discarded.append((checkpoint.step, problem)))
    assert chosen is not None and chosen.step == 2
    assert [step for step, _ in discarded] == [4, 3]
    assert "no seal" in discarded[0][1] and "bytes" in discarded[1][1]
    assert not unsealed.exists() and not tampered.exists()


def test_resume_after_sigkill_ends_at_the_same_loss(uninterrupted: WorkerRun, tmp_path: Path, base_ref: dict[str, str], chat_template: str) -> None:
    spec = checkpointed_spec(tmp_path, base_ref, chat_template)
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    process = subprocess.Popen(worker_command("train-sft", spec_path), cwd=tmp_path, env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    killed_after = None
    for line in process.stdout:
        event = json.loads(line)
        if event["event"] == "checkpoint" and event["step"] == 4:
            killed_after = event["step"]
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert killed_after == 4 and process.returncode == -signal.SIGKILL
    assert not (tmp_path / "out" / "peft").exists(), "a killed run must publish no adapter"
    # A checkpoint the kill interrupted halfway: it must be discarded, not loaded.
    half = Path(spec["checkpointDir"]) / "checkpoint-5"
    half.mkdir()
    (half / "adapter_model.safetensors").write_bytes(b"\0" * 64)

    resumed = run_worker("train-sft", {**spec, "resume": True}, tmp_path)
    assert resumed.returncode == 0, f"{resumed.events[-1:]}\n{resumed.stderr[-3000:]}"
    done = resumed.one("done")
    assert done["resumedFromStep"] == 4 and done["steps"] == 6
    assert any("discarded checkpoint-5" in event["message"] for event in resumed.of("log"))
    assert [event["step"] for event in resumed.of("progress")] == [5, 6]
    reference = {event["step"]: event["loss"] for event in uninterrupted.of("progress")}
    for event in resumed.of("progress"):
        assert event["loss"] == pytest.approx(reference[event["step"]], rel=1e-3), f"step {event['step']}"
    assert resumed.of("eval")[-1]["evalLoss"] == pytest.approx(uninterrupted.of("eval")[-1]["evalLoss"], rel=1e-3)
    assert (tmp_path / "out" / "peft" / "adapter_model.safetensors").is_file()


def test_resume_without_a_checkpoint_is_refused_before_loading(tmp_path: Path, base_ref: dict[str, str], chat_template: str) -> None:
    spec = checkpointed_spec(tmp_path, base_ref, chat_template)
    run = run_worker("train-sft", {**spec, "resume": True}, tmp_path)
    assert run.returncode == 2
    error = run.one("error")
    assert error["errorType"] == "SpecError" and "no complete checkpoint" in error["message"]
    assert not run.of("progress")


@pytest.mark.parametrize(
    ("training", "extra", "message"),
    [
        ({"evalSteps": 2}, {}, "needs evalPath"),
        ({"earlyStoppingPatience": 2}, {"evalPath": "v.jsonl"}, "needs training.evalSteps"),
        ({"saveSteps": 3, "evalSteps": 2}, {"evalPath": "v.jsonl", "checkpointDir": "c"}, "multiple of training.evalSteps"),
        ({"saveSteps": 2}, {}, "needs checkpointDir"),
        ({"precision": "fp16"}, {}, "needs a GPU"),
        ({"precision": "bf16"}, {}, "bf16 is not applied on the CPU"),
        ({"device": "cuda"}, {}, "no CUDA device"),
    ],
)
def test_inconsistent_schedules_are_refused_up_front(tmp_path: Path, base_ref: dict[str, str], chat_template: str, training: dict[str, Any], extra: dict[str, Any], message: str) -> None:
    train_path = write_jsonl(tmp_path / "train.jsonl", banking_records())
    spec = {**train_spec(base_ref, train_path, tmp_path / "out", chat_template, **training), **extra}
    run = run_worker("train-sft", spec, tmp_path)
    assert run.returncode == 2, run.stderr[-2000:]
    assert message in run.one("error")["message"]
    assert not run.of("progress")


def test_a_max_length_that_leaves_no_completion_is_refused_before_training(tmp_path: Path, base_ref: dict[str, str], chat_template: str) -> None:
    train_path = write_jsonl(tmp_path / "train.jsonl", banking_records())
    run = run_worker("train-sft", train_spec(base_ref, train_path, tmp_path / "out", chat_template, maxLength=8), tmp_path)
    assert run.returncode == 1, run.stderr[-2000:]
    error = run.one("error")
    assert error["errorType"] == "DataError"
    assert "no example keeps a completion token within maxLength=8" in error["message"]
    assert not run.of("progress") and not (tmp_path / "out" / "peft").exists()


def test_early_stopping_ends_the_run_after_patience_validations_without_improvement(tmp_path: Path, base_ref: dict[str, str], chat_template: str) -> None:
    train_path = write_jsonl(tmp_path / "train.jsonl", banking_records())
    eval_path = write_jsonl(tmp_path / "validation.jsonl", validation_records())
    # Only an improvement of more than 10 nats counts, so every validation after the first is "no better".
    spec = train_spec(base_ref, train_path, tmp_path / "out", chat_template, maxSteps=6, evalSteps=1, earlyStoppingPatience=2, earlyStoppingThreshold=10)
    spec["evalPath"] = str(eval_path)
    run = run_worker("train-sft", spec, tmp_path)
    assert run.returncode == 0, f"{run.events[-1:]}\n{run.stderr[-3000:]}"
    assert [event["step"] for event in run.of("eval")] == [1, 2, 3]
    losses = {event["step"]: event["evalLoss"] for event in run.of("eval")}
    done = run.one("done")
    assert done["steps"] == 3 and done["stoppedEarly"] is True
    assert done["bestStep"] == min(losses, key=losses.get)
    assert any("early stop at step 3" in event["message"] for event in run.of("log"))
