"""The JSON-line event stream on stdout.

Stdout carries events only: `claim_stdout()` keeps a private handle on the real stdout and points file
descriptor 1 (and `sys.stdout`) at stderr, so a stray `print`, a progress bar or a C library writing to
fd 1 can never corrupt the protocol.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from typing import Any, TextIO


def claim_stdout() -> TextIO:
    """Return a line-buffered handle on the original stdout and send everything else written to stdout to stderr."""
    sys.stdout.flush()
    event_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(event_fd, "w", buffering=1, encoding="utf-8")


def finite_or_none(value: float | int | None) -> float | None:
    """JSON has no NaN or infinity; the contract's nullable numbers take null instead."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def installed_version(package: str) -> str:
    """A package's installed version without importing it (for `started` when no model runs), or "not installed"."""
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


class EventStream:
    """Writes one JSON object per line; the field names are the camelCase ones of the zod contract."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.done_sent = False

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def started(self, command: str, device: str, torch_version: str) -> None:
        self.emit("started", command=command, pid=os.getpid(), device=device, torchVersion=torch_version)

    def log(self, message: str) -> None:
        self.emit("log", message=message)

    def progress(
        self,
        *,
        step: int,
        total_steps: int,
        epoch: float,
        loss: float | None,
        learning_rate: float | None,
        tokens_per_second: float | None,
        eta_seconds: float | None,
    ) -> None:
        self.emit(
            "progress",
            step=int(step),
            totalSteps=int(total_steps),
            epoch=finite_or_none(epoch) or 0.0,
            loss=finite_or_none(loss),
            learningRate=finite_or_none(learning_rate),
            tokensPerSecond=finite_or_none(tokens_per_second),
            etaSeconds=finite_or_none(eta_seconds),
        )

    def artifact(self, kind: str, path: str, sha256: str) -> None:
        self.emit("artifact", kind=kind, path=path, sha256=sha256)

    def result(self, result: Any) -> None:
        self.emit("result", result=result)

    def done(self, seconds: float, **train_fields: Any) -> None:
        self.done_sent = True
        self.emit("done", seconds=round(seconds, 3), **train_fields)

    def error(self, error_type: str, message: str) -> None:
        self.emit("error", errorType=error_type, message=message)
