"""A real `train-sft` through the CLI and its JSON-line protocol, plus SIGTERM handling."""

from __future__ import annotations

import json
import math
import signal
import subprocess
from pathlib import Path

import pytest

from training_data import TRAIN_MAX_LENGTH, banking_records, train_spec, write_jsonl
from understudy_worker.artifacts import sha256_directory, sha256_file
from understudy_worker.errors import DataError
from understudy_worker.train_sft import read_records
from worker_cli import WorkerRun, parse_events, run_worker, worker_command, worker_env


def test_train_sft_emits_the_protocol_in_order(trained: tuple[WorkerRun, Path]) -> None:
    run, _ = trained
    names = [event["event"] for event in run.events]
    assert names[0] == "started"
    assert names[-1] == "done"
    assert names.index("artifact") > max(index for index, name in enumerate(names) if name == "progress")
    assert "error" not in names
    started = run.one("started")
    assert started["command"] == "train-sft" and started["device"] == "cpu" and started["torchVersion"]


def test_progress_events_report_steps_loss_and_throughput(trained: tuple[WorkerRun, Path]) -> None:
    run, _ = trained
    progress = run.of("progress")
    # loggingSteps=2 over 3 steps: step 2, then the final step is always logged.
    assert [event["step"] for event in progress] == [2, 3]
    for event in progress:
        assert event["totalSteps"] == 3
        assert math.isfinite(event["loss"]) and event["loss"] > 0
        assert event["learningRate"] is not None and event["learningRate"] > 0
        assert event["tokensPerSecond"] > 0
        assert event["etaSeconds"] >= 0
        assert 0 < event["epoch"] <= 1
    assert progress[-1]["etaSeconds"] == 0


def test_done_summarises_the_run(trained: tuple[WorkerRun, Path]) -> None:
    run, _ = trained
    done = run.one("done")
    assert done["steps"] == 3
    assert math.isfinite(done["trainLoss"]) and done["trainLoss"] > 0
    assert done["trainLoss"] == run.of("progress")[-1]["loss"]
    # 3 steps of 4 examples, each at most maxLength tokens.
    assert 0 < done["trainTokens"] <= 12 * TRAIN_MAX_LENGTH
    assert done["tokensPerSecond"] > 0
    assert done["truncatedExamples"] == 1
    assert done["seconds"] > 0


def test_artifacts_exist_with_their_hashes(trained: tuple[WorkerRun, Path]) -> None:
    run, output_dir = trained
    artifacts = {event["kind"]: event for event in run.of("artifact")}
    assert set(artifacts) == {"peft-adapter", "gguf-lora"}

    peft_dir = output_dir / "peft"
    assert Path(artifacts["peft-adapter"]["path"]) == peft_dir.resolve()
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (peft_dir / name).is_file(), name
    assert artifacts["peft-adapter"]["sha256"] == sha256_directory(peft_dir)

    config = json.loads((peft_dir / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["lora_alpha"] == 16 and not config.get("use_dora")
    assert set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

    gguf_file = output_dir / "adapter.gguf"
    assert Path(artifacts["gguf-lora"]["path"]) == gguf_file.resolve()
    assert artifacts["gguf-lora"]["sha256"] == sha256_file(gguf_file)
    # Nothing staged is left behind.
    assert sorted(path.name for path in output_dir.iterdir()) == ["adapter.gguf", "peft"]


def saved_chat_template(peft_dir: Path) -> str:
    if (peft_dir / "chat_template.jinja").is_file():
        return (peft_dir / "chat_template.jinja").read_text()
    return json.loads((peft_dir / "tokenizer_config.json").read_text())["chat_template"]


def test_the_saved_tokenizer_carries_the_training_chat_template(trained: tuple[WorkerRun, Path], chat_template: str) -> None:
    run, output_dir = trained
    assert saved_chat_template(output_dir / "peft") == chat_template
    # The training log names the token that ends each trained completion: the model learns to stop with it.
    assert any("completions end with '<|im_end|>'" in event["message"] for event in run.of("log"))


def test_a_template_that_never_ends_the_assistant_turn_is_refused(tmp_path: Path, base_ref: dict[str, str], chat_template: str) -> None:
    """The spec's template replaces the GGUF's own; one whose answers end without a special token fails before the model loads."""
    train_path = write_jsonl(tmp_path / "train.jsonl", banking_records()[:4])
    plain = "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
    run = run_worker("train-sft", train_spec(base_ref, train_path, tmp_path / "out", plain), tmp_path)
    assert run.returncode == 1
    error = run.one("error")
    assert error["errorType"] == "TemplateMismatchError" and "would not learn to stop" in error["message"]
    assert plain != chat_template


def test_bad_training_records_name_the_line(tmp_path: Path) -> None:
    records = banking_records()[:2]
    records[1]["completion"] = []
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    with pytest.raises(DataError) as caught:
        read_records(str(path))
    assert caught.value.line == 2 and "completion" in str(caught.value)


def test_sigterm_stops_training_without_publishing_artifacts(tmp_path: Path, base_ref: dict[str, str], chat_template: str) -> None:
    train_path = write_jsonl(tmp_path / "train.jsonl", banking_records())
    output_dir = tmp_path / "out"
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(train_spec(base_ref, train_path, output_dir, chat_template, maxSteps=200, loggingSteps=1)))
    process = subprocess.Popen(
        worker_command("train-sft", spec_path), cwd=tmp_path, env=worker_env(),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if json.loads(line)["event"] == "progress":
                process.send_signal(signal.SIGTERM)
                break
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    events = parse_events("".join(lines) + rest)
    assert process.returncode == 143
    assert events[-1]["event"] == "error" and events[-1]["errorType"] == "Terminated"
    assert not any(event["event"] in ("artifact", "done") for event in events)
    assert list(output_dir.iterdir()) == []
