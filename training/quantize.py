"""Quantize an exported encoder to int8 (static, per-tensor weights, calibrated on training data).

Usage: python training/quantize.py --model MODEL_DIR --data PAIRS_DIR [--calibration 256]

Reads MODEL_DIR/encoder.onnx (from export.py) and writes MODEL_DIR/encoder-int8.onnx with its
sidecar MODEL_DIR/encoder-int8.json (the float sidecar with precision "int8", its own sha256 and
the agreement with the float model). Format: ONNX Runtime's QOperator form (QLinearConv;
int8 activations and per-tensor int8 weights), which tract-onnx runs. Calibration:
log-mel spectrograms of the first N training pairs (x and y), MinMax ranges. The script fails if
the int8 embeddings of held-out (validation) pairs fall below cosine 0.95 of the float ones on
average, so a broken quantization never ships.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from data import PairData
from frontend import LogMel, load_settings

MIN_MEAN_COSINE = 0.95


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def logmels(data: PairData, frontend: LogMel, n: int) -> list[np.ndarray]:
    """Mid/side log-mel of x and y for the first n pairs of `data`, each (1, 2, frames, n_mels)."""
    out = []
    with torch.no_grad():
        for i in range(min(n, len(data))):
            x, y, _, _ = data[i]
            for audio in (x, y):
                out.append(frontend(audio[None]).numpy().astype(np.float32))
    return out


class Reader(CalibrationDataReader):
    def __init__(self, inputs: list[np.ndarray]):
        self.it = iter(inputs)

    def get_next(self):
        x = next(self.it, None)
        return None if x is None else {"logmel": x}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--calibration", type=int, default=256, help="training pairs used for calibration")
    ap.add_argument("--check", type=int, default=128, help="validation pairs used for the agreement check")
    a = ap.parse_args()
    src, dst = a.model / "encoder.onnx", a.model / "encoder-int8.onnx"
    meta = json.loads((a.model / "encoder.json").read_text())
    frontend = LogMel(load_settings(a.data / "frontend.json"))
    calib = logmels(PairData(a.data, "train"), frontend, a.calibration)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    # ORT's recommended preprocessing: shape inference and graph optimisation (batch norm folded
    # into the convolutions, constants folded), so every conv has its weights and bias as
    # initializers to quantize.
    pre = dst.with_name(f".{dst.stem}.pre.{os.getpid()}.onnx")
    quant_pre_process(str(src), str(pre))
    # Only the convolutions (nearly all of the compute) become QLinearConv; ONNX Runtime's int8
    # Gemm, Add and Concat are its own contrib ops (QGemm, QLinearAdd, …), which tract does not
    # run. tract's QLinearConv wants activations and weights of one type (int8 for both), and
    # per-tensor weight scales (tract 0.21 fails to broadcast per-channel ones in QLinearConv).
    quantize_static(str(pre), str(tmp), Reader(calib), quant_format=QuantFormat.QOperator, per_channel=False,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"])
    # Shape inference annotated intermediate tensors with symbolic expressions such as
    # `ceiling(frames/2)`, which tract does not parse; drop them (tract infers shapes itself).
    q = onnx.load(str(tmp))
    del q.graph.value_info[:]
    onnx.save(q, str(tmp))

    f32 = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    i8 = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    cosines = []
    for x in logmels(PairData(a.data, "val"), frontend, a.check):
        for a_vec, b_vec in zip(f32.run(None, {"logmel": x}), i8.run(None, {"logmel": x})):
            cosines.append(float((a_vec * b_vec).sum() / (np.linalg.norm(a_vec) * np.linalg.norm(b_vec) + 1e-12)))
    mean, worst = float(np.mean(cosines)), float(np.min(cosines))
    print(f"int8 vs float32 on {len(cosines)} validation embeddings: mean cosine {mean:.4f}, worst {worst:.4f}")
    if mean < MIN_MEAN_COSINE:
        tmp.unlink()
        pre.unlink()
        raise SystemExit(f"int8 model disagrees with float (mean cosine {mean:.4f} < {MIN_MEAN_COSINE}); not written")
    pre.unlink()
    os.replace(tmp, dst)
    meta.update({
        "precision": "int8",
        "quantization": "onnxruntime quantize_static, QOperator, convolutions only, int8 activations and per-tensor int8 weights, "
                        f"MinMax calibration on {len(calib)} training log-mels",
        "int8_vs_float_cosine_mean": mean,
        "int8_vs_float_cosine_min": worst,
        "onnx_sha256": hashlib.sha256(dst.read_bytes()).hexdigest(),
    })
    atomic_write(a.model / "encoder-int8.json", json.dumps(meta, indent=2).encode())
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
