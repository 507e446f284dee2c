"""Sealed checkpoints: a checkpoint counts only once a seal listing every file's size and sha256 is in place.

The trainer writes `checkpoint-<step>/` in several files (adapter, optimizer, scheduler, RNG state, trainer
state). A run killed with SIGKILL halfway through leaves a directory that looks like a checkpoint but is not
one. The seal is written last, to a temporary name then renamed, after the files are flushed to disk; resuming
picks the newest checkpoint whose seal matches its files and deletes unsealed ones, so a half-written
checkpoint is never loaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .artifacts import sha256_file

SEAL_NAME = "understudy-checkpoint.json"
_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def seal(directory: Path, step: int) -> None:
    """Flush every file of a finished checkpoint, then record them in the seal (atomically)."""
    files: dict[str, dict[str, object]] = {}
    for file in sorted(item for item in directory.rglob("*") if item.is_file() and item.name != SEAL_NAME):
        _fsync(file)
        files[file.relative_to(directory).as_posix()] = {"bytes": file.stat().st_size, "sha256": sha256_file(file)}
    if not files:
        raise RuntimeError(f"{directory} holds no files to seal")
    temporary = directory / f".{SEAL_NAME}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"step": step, "files": files}, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, directory / SEAL_NAME)
    _fsync(directory)


def seal_problem(directory: Path) -> str | None:
    """Why this checkpoint cannot be trusted, or None when its seal matches every file."""
    seal_file = directory / SEAL_NAME
    if not seal_file.is_file():
        return "no seal (the run stopped while writing it)"
    try:
        recorded = json.loads(seal_file.read_text(encoding="utf-8"))
        files = recorded["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"unreadable seal: {error}"
    for name, facts in files.items():
        file = directory / name
        if not file.is_file():
            return f"{name} is missing"
        if file.stat().st_size != facts["bytes"]:
            return f"{name} has {file.stat().st_size} bytes, the seal says {facts['bytes']}"
        if sha256_file(file) != facts["sha256"]:
            return f"{name} does not match its sha256"
    return None


def list_checkpoints(root: Path) -> list[Checkpoint]:
    """Every `checkpoint-<step>` directory under root, newest first, sealed or not."""
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        match = _CHECKPOINT_DIR.match(entry.name)
        if match and entry.is_dir():
            found.append(Checkpoint(entry, int(match.group(1))))
    return sorted(found, key=lambda checkpoint: checkpoint.step, reverse=True)


def newest_sealed(root: Path, on_discard: Callable[[Checkpoint, str], None] | None = None) -> Checkpoint | None:
    """The newest checkpoint whose seal holds; newer broken ones are removed so the trainer never sees them."""
    for checkpoint in list_checkpoints(root):
        problem = seal_problem(checkpoint.path)
        if problem is None:
            return checkpoint
        if on_discard is not None:
            on_discard(checkpoint, problem)
        shutil.rmtree(checkpoint.path, ignore_errors=True)
    return None
