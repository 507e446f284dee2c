"""`requantize`: rewrite a GGUF's weight matrices as Q4_0, the 4-bit type llama.cpp's CPU backend repacks.

On x86 with AVX2 (and on ARM with i8mm or dotprod) llama.cpp copies Q4_0 weights into an interleaved layout at load
and multiplies them with a batched kernel; Q4_1, Q5_x and Q8_0 matrices have no such kernel on x86 and are
multiplied one dot product at a time. Same size class, so the same memory; on the 2-core EPYC it doubled batched
decoding and prefill (see `npm run bench:inference`).

Every 2-D tensor whose rows are whole Q4_0 blocks (32 values) and whose type is not Q4_0 already is dequantized to
float32 and quantized again; 1-D tensors (norms, biases) are copied unchanged, as is every metadata key except
`general.file_type`. Going from another 4-bit type adds a second rounding: the result reports the relative RMS change
of the weights so the user can judge it, and an adapter should be trained on the requantized file (the worker
dequantizes exactly what the engine serves) rather than moved onto it.

The file is written beside the output as `.partial` and renamed into place, so an interrupted run leaves nothing that
looks complete.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from .artifacts import sha256_file, signals_blocked
from .errors import DataError, SpecError
from .protocol import EventStream, installed_version
from .spec import RequantizeSpec

# llama.cpp's `general.file_type` value for "mostly Q4_0" (enum llama_ftype).
FILE_TYPE_MOSTLY_Q4_0 = 2
Q4_0_BLOCK = 32


def run(spec: RequantizeSpec, events: EventStream) -> None:
    started = time.monotonic()
    events.started("requantize", "cpu", installed_version("torch"))
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter, quants

    source = Path(spec.input_path)
    final = Path(spec.output_path).resolve()
    if final == source.resolve():
        raise SpecError("outputPath", "must differ from inputPath: the input is read while the output is written")
    if final.exists():
        raise SpecError("outputPath", f"{final} exists; choose a new file name")
    try:
        reader = GGUFReader(str(source))
    except (OSError, ValueError) as error:
        raise DataError(str(source), None, f"not a readable GGUF file: {error}") from error
    if "general.architecture" not in reader.fields:
        raise DataError(str(source), None, "the GGUF has no general.architecture key: not a model file")
    architecture = reader.fields["general.architecture"].contents()
    if reader.fields.get("general.type") is not None and reader.fields["general.type"].contents() == "adapter":
        raise DataError(str(source), None, "this GGUF is a LoRA adapter, not a base model; requantize the base")

    supported = {
        GGMLQuantizationType.F32, GGMLQuantizationType.F16, GGMLQuantizationType.BF16,
        GGMLQuantizationType.Q4_1, GGMLQuantizationType.Q5_0, GGMLQuantizationType.Q5_1, GGMLQuantizationType.Q8_0,
        GGMLQuantizationType.Q4_K, GGMLQuantizationType.Q5_K, GGMLQuantizationType.Q6_K,
    }
    tensors = list(reader.tensors)
    plan = []
    for tensor in tensors:
        columns = int(tensor.shape[0])
        convert = (
            len(tensor.shape) >= 2
            and columns % Q4_0_BLOCK == 0
            and tensor.tensor_type != GGMLQuantizationType.Q4_0
            and tensor.tensor_type in supported
        )
        plan.append(convert)
    if not any(plan):
        raise DataError(str(source), None, "no weight matrix to convert: every 2-D tensor is Q4_0 already or of a type this command does not read")

    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.{os.getpid()}.partial")
    writer = GGUFWriter(str(partial), architecture)
    try:
        for field in reader.fields.values():
            if field.name == "general.architecture" or field.name.startswith("GGUF."):
                continue
            value_type = field.types[0]
            sub_type = field.types[-1] if value_type == GGUFValueType.ARRAY else None
            value = FILE_TYPE_MOSTLY_Q4_0 if field.name == "general.file_type" else field.contents()
            writer.add_key_value(field.name, value, value_type, sub_type=sub_type)

        squared_change = 0.0
        squared_weight = 0.0
        converted: dict[str, int] = {}
        for index, (tensor, convert) in enumerate(zip(tensors, plan), start=1):
            if not convert:
                writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
            else:
                shape = [int(size) for size in reversed(tensor.shape)]
                weights = quants.dequantize(tensor.data, tensor.tensor_type).reshape(shape).astype(np.float32)
                packed = quants.quantize(weights, GGMLQuantizationType.Q4_0)
                back = quants.dequantize(packed, GGMLQuantizationType.Q4_0).reshape(shape)
                squared_change += float(np.sum((back - weights) ** 2, dtype=np.float64))
                squared_weight += float(np.sum(weights.astype(np.float64) ** 2))
                converted[tensor.tensor_type.name] = converted.get(tensor.tensor_type.name, 0) + 1
                writer.add_tensor(tensor.name, packed, raw_shape=packed.shape, raw_dtype=GGMLQuantizationType.Q4_0)
            events.progress(step=index, total_steps=len(tensors), epoch=0.0, loss=None, learning_rate=None, tokens_per_second=None, eta_seconds=None)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        digest = sha256_file(partial)
        with signals_blocked():
            os.replace(partial, final)
    finally:
        writer.close()
        if partial.exists():
            partial.unlink()

    relative_rms_change = math.sqrt(squared_change / squared_weight) if squared_weight > 0 else 0.0
    events.log(f"wrote {final}: {sum(converted.values())} matrices to Q4_0, relative RMS change {relative_rms_change:.4f}")
    events.artifact("gguf-model", str(final), digest)
    events.result({
        "outputPath": str(final),
        "sha256": digest,
        "sizeBytes": final.stat().st_size,
        "convertedTensors": converted,
        "keptTensors": len(tensors) - sum(converted.values()),
        "relativeRmsChange": relative_rms_change,
    })
    events.done(time.monotonic() - started)
