"""Artifacts are built in a private staging directory and renamed into place only once complete.

A crash or SIGTERM leaves at most a `.staging-*` directory (removed on the way out), never a half-written
`peft/` or `adapter.gguf` where the TypeScript side looks for them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_directory(path: str | os.PathLike[str]) -> str:
    """A digest over relative file names and contents, in sorted order, so it is stable across machines."""
    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(item for item in root.rglob("*") if item.is_file()):
        relative = file.relative_to(root).as_posix()
        digest.update(relative.encode("utf-8") + b"\0")
        digest.update(sha256_file(file).encode("ascii") + b"\n")
    return digest.hexdigest()


@contextmanager
def staging_directory(output_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh directory next to the final artifacts (same filesystem, so renames are atomic); always removed."""
    parent = Path(output_dir)
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def signals_blocked() -> Iterator[None]:
    """Defer SIGTERM/SIGINT while the final renames run, so they happen all together or not at all."""
    blocked = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def publish(staged: Path, final: Path) -> None:
    """Move a staged file or directory to its final path, replacing what was there."""
    if final.is_dir() and not final.is_symlink():
        # A directory cannot be replaced by rename in one step: move the old one aside first.
        retired = final.with_name(f".retired-{final.name}-{os.getpid()}")
        os.replace(final, retired)
        os.replace(staged, final)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staged, final)
