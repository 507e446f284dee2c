"""`export-dataset`: JSONL files to one Hugging Face `datasets` DatasetDict, saved with `save_to_disk`.

Each split is one JSONL file (one JSON object per line, the same keys on every line). The DatasetDict is saved
into a staging directory and renamed into place, so an interrupted export leaves nothing that looks complete.
`datasets.load_from_disk(outputDir)` reads it back.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .artifacts import publish, sha256_directory, signals_blocked, staging_directory
from .errors import DataError, SpecError
from .protocol import EventStream, installed_version
from .spec import ExportDatasetSpec


def read_rows(path: str) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file; a bad line is a DataError naming the file and line."""
    rows: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(path, number, f"not JSON: {error.msg}") from error
                if not isinstance(row, dict):
                    raise DataError(path, number, "each line must be a JSON object")
                rows.append(row)
    except OSError as error:
        raise DataError(path, None, f"cannot read: {error.strerror or error}") from error
    return rows


def _empty(datasets: Any, features: Any) -> Any:
    """A split with no rows but the given columns (`from_list([])` would have none)."""
    if features is None:
        return datasets.Dataset.from_dict({})
    return datasets.Dataset.from_dict({key: [] for key in features}, features=features)


def run(spec: ExportDatasetSpec, events: EventStream) -> None:
    started = time.monotonic()
    # No model runs here: name the device and read torch's version without importing it (the contract wants both).
    events.started("export-dataset", "cpu", installed_version("torch"))
    final = Path(spec.output_dir).resolve()
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise SpecError("outputDir", f"{final} exists and is not an empty directory; choose a new one")
    rows = {split.name: read_rows(split.path) for split in spec.splits}

    import datasets

    datasets.disable_progress_bars()
    # An empty split takes the columns of the first non-empty one, so every split has the same features.
    built = {name: datasets.Dataset.from_list(split_rows) for name, split_rows in rows.items() if split_rows}
    features = next(iter(built.values())).features if built else None
    dataset_dict = datasets.DatasetDict({
        name: built[name] if name in built else _empty(datasets, features)
        for name in rows
    })

    final.parent.mkdir(parents=True, exist_ok=True)
    with staging_directory(final.parent) as staging:
        out = staging / "dataset"
        # An empty split saved with no shard does not load back: give it one.
        dataset_dict.save_to_disk(str(out), num_shards={name: 1 for name, split in dataset_dict.items() if len(split) == 0})
        digest = sha256_directory(out)
        with signals_blocked():
            if final.exists():
                final.rmdir()
            publish(out, final)
    counts = {name: len(split) for name, split in dataset_dict.items()}
    events.log("saved DatasetDict " + ", ".join(f"{name}: {count} rows" for name, count in counts.items()) + f" to {final}")
    events.artifact("hf-dataset", str(final), digest)
    events.result({"splits": counts, "columns": list(features.keys()) if features is not None else [], "datasetsVersion": datasets.__version__})
    events.done(time.monotonic() - started)
