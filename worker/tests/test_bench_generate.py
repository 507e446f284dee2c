"""`bench-generate`: timed greedy generation with the base + PEFT adapter, through the real CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from understudy_worker.errors import SpecError
from understudy_worker.spec import BenchGenerateSpec, parse_spec
from worker_cli import WorkerRun, run_worker

PROMPTS = [
    [{"role": "system", "content": "Classify the banking request."}, {"role": "user", "content": "I lost my card."}],
    [{"role": "system", "content": "Classify the banking request."}, {"role": "user", "content": "Why was my top-up declined?"}],
]
SPEC: dict[str, Any] = {
    "command": "bench-generate",
    "base": {"kind": "gguf", "path": "/models/base.gguf"},
    "sequences": [[1, 2, 3]],
    "maxNewTokens": 4,
    "warmup": 1,
    "threads": 0,
}


def test_the_spec_parses_with_defaults_and_names_bad_fields() -> None:
    spec = parse_spec(SPEC)
    assert isinstance(spec, BenchGenerateSpec)
    assert (spec.sequences, spec.max_new_tokens, spec.adapter_dir, spec.ignore_eos) == (((1, 2, 3),), 4, None, False)
    with pytest.raises(SpecError, match=r"maxNewTokens: must be a positive integer"):
        parse_spec({**SPEC, "maxNewTokens": 0})
    with pytest.raises(SpecError, match=r"sequences\[0\]\[1\]: must be >= 0"):
        parse_spec({**SPEC, "sequences": [[1, -2]]})


def test_bench_generate_times_every_prompt_with_the_adapter(
    tmp_path: Path, base_ref: dict[str, str], tokenizer: Any, trained: tuple[WorkerRun, Path]
) -> None:
    _, output_dir = trained
    sequences = [
        list(tokenizer.apply_chat_template(prompt, tokenize=True, return_dict=True, add_generation_prompt=True)["input_ids"])
        for prompt in PROMPTS
    ]
    spec = {**SPEC, "base": base_ref, "adapterDir": str(output_dir / "peft"), "sequences": sequences, "ignoreEos": True, "threads": 2}
    run = run_worker("bench-generate", spec, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert [event["event"] for event in run.events] == ["started", "result", "done"]
    result = run.one("result")["result"]
    assert (result["threads"], result["dtype"], result["adapter"], result["warmup"]) == (2, "float32", True, 1)
    assert len(result["results"]) == 2
    for entry, ids in zip(result["results"], sequences):
        # With the end of turn suppressed, every prompt gets exactly maxNewTokens.
        assert entry["promptTokens"] == len(ids)
        assert entry["completionTokens"] == 4 and len(entry["completionTokenIds"]) == 4
        assert all(0 <= token < 49152 for token in entry["completionTokenIds"])
        assert entry["prefillMs"] > 0 and entry["decodeMs"] > 0
        assert abs(entry["prefillMs"] + entry["decodeMs"] - entry["totalMs"]) < 1e-6
