"""`export-dataset`: JSONL splits to a DatasetDict on disk, through the real worker CLI; read back with load_from_disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from understudy_worker.errors import SpecError
from understudy_worker.spec import ExportDatasetSpec, parse_spec
from worker_cli import run_worker


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def record(text: str, label: str) -> dict:
    return {"prompt": [{"role": "system", "content": "Classify."}, {"role": "user", "content": text}], "completion": [{"role": "assistant", "content": label}]}


def test_the_spec_needs_no_base_and_names_bad_splits() -> None:
    spec = parse_spec({"command": "export-dataset", "splits": [{"name": "train", "path": "a.jsonl"}], "outputDir": "out"})
    assert isinstance(spec, ExportDatasetSpec) and spec.splits[0].name == "train"
    bad = [
        ({"command": "export-dataset", "outputDir": "out"}, "splits"),
        ({"command": "export-dataset", "splits": [], "outputDir": "out"}, "splits"),
        ({"command": "export-dataset", "splits": [{"name": "a/b", "path": "x"}], "outputDir": "out"}, "splits[0].name"),
        ({"command": "export-dataset", "splits": [{"name": "t", "path": "x"}, {"name": "t", "path": "y"}], "outputDir": "out"}, "splits[1].name"),
    ]
    for document, field in bad:
        with pytest.raises(SpecError) as caught:
            parse_spec(document)
        assert caught.value.field == field


def test_export_dataset_writes_a_loadable_dataset_dict(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", [record("where is my card", "card_arrival"), record("rate for euros", "exchange_rate")])
    test = write_jsonl(tmp_path / "test.jsonl", [])
    out = tmp_path / "dataset"
    run = run_worker("export-dataset", {"command": "export-dataset", "splits": [{"name": "train", "path": train}, {"name": "test", "path": test}], "outputDir": str(out)}, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    artifact = run.one("artifact")
    assert artifact["kind"] == "hf-dataset" and artifact["path"] == str(out.resolve())
    assert run.one("result")["result"]["splits"] == {"train": 2, "test": 0}
    assert not [item for item in tmp_path.iterdir() if item.name.startswith(".staging-")]

    import datasets

    loaded = datasets.load_from_disk(str(out))
    assert list(loaded.keys()) == ["train", "test"]
    assert loaded["train"][1]["completion"] == [{"role": "assistant", "content": "exchange_rate"}]
    assert len(loaded["test"]) == 0 and loaded["test"].column_names == ["prompt", "completion"]

    again = run_worker("export-dataset", {"command": "export-dataset", "splits": [{"name": "train", "path": train}], "outputDir": str(out)}, tmp_path)
    assert again.returncode == 2 and "outputDir" in again.one("error")["message"], "an existing dataset is never overwritten"


def test_a_bad_line_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "train.jsonl"
    bad.write_text(json.dumps(record("a", "b")) + "\nnot json\n", encoding="utf-8")
    run = run_worker("export-dataset", {"command": "export-dataset", "splits": [{"name": "train", "path": str(bad)}], "outputDir": str(tmp_path / "out")}, tmp_path)
    assert run.returncode == 1
    error = run.one("error")
    assert error["errorType"] == "DataError" and f"{bad}:2" in error["message"]
    assert not (tmp_path / "out").exists()
