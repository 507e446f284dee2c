"""Run the real worker CLI in a subprocess and read its JSON-line protocol."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORKER_ROOT = Path(__file__).resolve().parents[1]
EVENT_NAMES = {"started", "progress", "log", "artifact", "result", "done", "error", "eval", "checkpoint"}


@dataclass
class WorkerRun:
    returncode: int
    events: list[dict[str, Any]]
    stderr: str

    def of(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == name]

    def one(self, name: str) -> dict[str, Any]:
        found = self.of(name)
        assert len(found) == 1, f"expected one {name!r} event, got {len(found)}; stderr tail:\n{self.stderr[-3000:]}"
        return found[0]


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(WORKER_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["HF_HUB_OFFLINE"] = "1"
    return env


def worker_command(command: str, spec_path: Path) -> list[str]:
    return [sys.executable, "-m", "understudy_worker", command, "--spec", str(spec_path)]


def parse_events(stdout: str) -> list[dict[str, Any]]:
    """Every stdout line must be one JSON object naming a known event: nothing else may reach stdout."""
    events = []
    for line in stdout.splitlines():
        event = json.loads(line)
        assert isinstance(event, dict) and event.get("event") in EVENT_NAMES, f"not a protocol event: {line!r}"
        events.append(event)
    return events


def run_worker(command: str, spec: dict[str, Any], directory: Path, *, timeout: float = 600) -> WorkerRun:
    spec_path = directory / f"{command}-spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    completed = subprocess.run(
        worker_command(command, spec_path),
        cwd=directory,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return WorkerRun(completed.returncode, parse_events(completed.stdout), completed.stderr)
