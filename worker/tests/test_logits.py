"""`logits`: sorted next-token log-probabilities at the last position, base or base + adapter."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from understudy_worker.logits import top_logprobs
from worker_cli import WorkerRun, run_worker

PROMPT = [{"role": "system", "content": "Classify the banking request."}, {"role": "user", "content": "I lost my card."}]


def assert_sorted_distribution(result: dict[str, Any], top_k: int) -> None:
    top = result["top"]
    assert len(top) == top_k
    assert result["vocabSize"] == 49152
    logprobs = [entry["logprob"] for entry in top]
    assert logprobs == sorted(logprobs, reverse=True)
    assert all(entry["logprob"] <= 0 for entry in top)
    assert sum(math.exp(value) for value in logprobs) <= 1 + 1e-9
    assert len({entry["tokenId"] for entry in top}) == top_k


def test_base_logits_in_process(base_model: Any, tokenizer: Any) -> None:
    ids = list(tokenizer.apply_chat_template(PROMPT, tokenize=True, return_dict=True, add_generation_prompt=True)["input_ids"])
    result = top_logprobs(base_model, ids, top_k=20)
    assert_sorted_distribution(result, 20)
    everything = top_logprobs(base_model, ids, top_k=49152)
    assert abs(math.fsum(math.exp(entry["logprob"]) for entry in everything["top"]) - 1.0) < 1e-9


def test_logits_cli_with_the_trained_adapter_and_the_base_from_one_load(
    tmp_path: Path, base_ref: dict[str, str], tokenizer: Any, base_model: Any, trained: tuple[WorkerRun, Path]
) -> None:
    _, output_dir = trained
    ids = list(tokenizer.apply_chat_template(PROMPT, tokenize=True, return_dict=True, add_generation_prompt=True)["input_ids"])
    spec = {
        "command": "logits", "base": base_ref, "adapterDir": str(output_dir / "peft"),
        "sequences": [ids, ids[:-3]], "topK": 10, "compareWithBase": True,
    }
    run = run_worker("logits", spec, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert [event["event"] for event in run.events] == ["started", "result", "done"]
    result = run.one("result")["result"]
    assert result["vocabSize"] == 49152 and len(result["results"]) == 2
    for entry, sequence in zip(result["results"], spec["sequences"]):
        adapted = {"top": entry["top"], "vocabSize": result["vocabSize"]}
        assert_sorted_distribution(adapted, 10)
        # With the adapter disabled the worker's base scores equal the plain base model's.
        base = top_logprobs(base_model, sequence, top_k=10)
        assert [item["tokenId"] for item in entry["baseTop"]] == [item["tokenId"] for item in base["top"]]
        assert all(abs(a["logprob"] - b["logprob"]) < 1e-6 for a, b in zip(entry["baseTop"], base["top"]))
        # The adapter was trained (lr 1e-3, 3 steps): the distribution must have moved away from the base.
        assert entry["top"] != entry["baseTop"]


def test_logits_cli_scores_the_base_alone_without_base_top(tmp_path: Path, base_ref: dict[str, str], tokenizer: Any) -> None:
    ids = list(tokenizer.apply_chat_template(PROMPT, tokenize=True, return_dict=True, add_generation_prompt=True)["input_ids"])
    run = run_worker("logits", {"command": "logits", "base": base_ref, "sequences": [ids], "topK": 3}, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    [entry] = run.one("result")["result"]["results"]
    assert len(entry["top"]) == 3 and "baseTop" not in entry


def test_out_of_vocabulary_ids_are_rejected(base_model: Any) -> None:
    with pytest.raises(ValueError, match="vocabulary"):
        top_logprobs(base_model, [1, 10**7], top_k=3)
