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


def test_logits_cli_with_the_trained_adapter(
    tmp_path: Path, base_ref: dict[str, str], tokenizer: Any, base_model: Any, trained: tuple[WorkerRun, Path]
) -> None:
    _, output_dir = trained
    ids = list(tokenizer.apply_chat_template(PROMPT, tokenize=True, return_dict=True, add_generation_prompt=True)["input_ids"])
    spec = {"command": "logits", "base": base_ref, "adapterDir": str(output_dir / "peft"), "tokenIds": ids, "topK": 10}
    run = run_worker("logits", spec, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert [event["event"] for event in run.events] == ["started", "result", "done"]
    adapted = run.one("result")["result"]
    assert_sorted_distribution(adapted, 10)
    # The adapter was trained (lr 1e-3, 3 steps): the distribution must have moved away from the base.
    base = top_logprobs(base_model, ids, top_k=10)
    assert adapted["top"] != base["top"]


def test_out_of_vocabulary_ids_are_rejected(base_model: Any) -> None:
    with pytest.raises(ValueError, match="vocabulary"):
        top_logprobs(base_model, [1, 10**7], top_k=3)
