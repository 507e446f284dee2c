"""`requantize`: the real SmolLM2 Q4_1 GGUF rewritten as Q4_0 through the worker CLI, then read back with gguf-py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFReader, quants

from understudy_worker.errors import SpecError
from understudy_worker.spec import RequantizeSpec, parse_spec
from worker_cli import run_worker


def test_the_spec_needs_no_base_and_names_missing_fields() -> None:
    spec = parse_spec({"command": "requantize", "inputPath": "a.gguf", "outputPath": "b.gguf"})
    assert isinstance(spec, RequantizeSpec) and spec.to == "q4_0"
    for document, field in [
        ({"command": "requantize", "outputPath": "b.gguf"}, "inputPath"),
        ({"command": "requantize", "inputPath": "a.gguf"}, "outputPath"),
        ({"command": "requantize", "inputPath": "a.gguf", "outputPath": "b.gguf", "to": "q2_k"}, "to"),
    ]:
        with pytest.raises(SpecError) as caught:
            parse_spec(document)
        assert caught.value.field == field


def test_requantize_rewrites_every_matrix_as_q4_0_and_keeps_the_rest(gguf_path: str, tmp_path: Path) -> None:
    output = tmp_path / "smol.requant-Q4_0.gguf"
    run = run_worker("requantize", {"command": "requantize", "inputPath": gguf_path, "outputPath": str(output)}, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    result = run.one("result")["result"]
    assert result["outputPath"] == str(output.resolve())
    assert result["sha256"] == hashlib.sha256(output.read_bytes()).hexdigest()
    assert run.one("artifact")["kind"] == "gguf-model"
    # The SmolLM2 file: 210 Q4_1 matrices and the Q8_0 embedding; the 61 norms stay F32.
    assert result["convertedTensors"] == {"Q4_1": 210, "Q8_0": 1}
    assert result["keptTensors"] == 61
    # A second 4-bit rounding: a few percent of the weights' RMS, not more.
    assert 0.01 < result["relativeRmsChange"] < 0.2
    assert [path.name for path in tmp_path.iterdir() if "partial" in path.name] == []

    source, copy = GGUFReader(gguf_path), GGUFReader(str(output))
    assert [tensor.name for tensor in copy.tensors] == [tensor.name for tensor in source.tensors]
    assert copy.fields["general.file_type"].contents() == 2
    assert copy.fields["tokenizer.chat_template"].contents() == source.fields["tokenizer.chat_template"].contents()
    for before, after in zip(source.tensors, copy.tensors):
        assert list(after.shape) == list(before.shape), before.name
        if len(before.shape) == 1:
            assert after.tensor_type == before.tensor_type and np.array_equal(after.data, before.data), before.name
        else:
            assert after.tensor_type == GGMLQuantizationType.Q4_0, before.name
    # One matrix checked value by value: the copy is the original requantized, within one Q4_0 step per block
    # (half a step of rounding, a whole step where the block's largest value is clipped to +7).
    before = next(tensor for tensor in source.tensors if tensor.name == "blk.0.ffn_down.weight")
    after = next(tensor for tensor in copy.tensors if tensor.name == "blk.0.ffn_down.weight")
    original = quants.dequantize(before.data, before.tensor_type).reshape(-1, 32)
    requantized = quants.dequantize(after.data, after.tensor_type).reshape(-1, 32)
    step = np.abs(original).max(axis=1, keepdims=True) / 8
    assert np.all(np.abs(requantized - original) <= step + 1e-6)
    assert np.mean(np.abs(requantized - original) <= step * 0.5 + 1e-6) > 0.95


def test_requantize_refuses_an_existing_output_and_a_non_gguf(gguf_path: str, tmp_path: Path) -> None:
    existing = tmp_path / "taken.gguf"
    existing.write_bytes(b"keep me")
    run = run_worker("requantize", {"command": "requantize", "inputPath": gguf_path, "outputPath": str(existing)}, tmp_path)
    assert run.returncode == 2 and "exists" in run.one("error")["message"]
    assert existing.read_bytes() == b"keep me"
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("not a model", encoding="utf-8")
    run = run_worker("requantize", {"command": "requantize", "inputPath": str(not_gguf), "outputPath": str(tmp_path / "out.gguf")}, tmp_path)
    assert run.returncode != 0 and "notes.gguf" in run.one("error")["message"]
    assert not (tmp_path / "out.gguf").exists()
