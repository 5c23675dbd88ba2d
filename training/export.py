"""Export a trained encoder to ONNX, with its front-end settings and golden embeddings.

Usage: python training/export.py --run RUN_DIR --out MODEL_DIR

Writes MODEL_DIR/encoder.onnx (float32; input `logmel` (batch, 2 [mid, side], frames, n_mels) dB,
outputs `mid` and `side` (batch, dim), L2-normalised; opset 17, dynamic batch and frames),
MODEL_DIR/encoder.json (front-end settings, dimensions, training summary, sha256 of the ONNX) and
MODEL_DIR/golden.json: for fixed test signals defined by formula (so Rust regenerates them
exactly), the log-mel spectrogram and the embeddings the Rust side must reproduce. Checks the ONNX
file against PyTorch with onnx's reference evaluator.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx.reference import ReferenceEvaluator

from frontend import LogMel, golden_signal
from model import count_macs, encoder_from_checkpoint

OPSET = 17
SR = 48_000


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    ck = torch.load(a.run / "checkpoint.pt", map_location="cpu", weights_only=False)
    settings = ck["settings"]
    enc = encoder_from_checkpoint(ck)
    frontend = LogMel(settings)
    a.out.mkdir(parents=True, exist_ok=True)

    onnx_path = a.out / "encoder.onnx"
    example = torch.zeros(1, 2, 139, settings["n_mels"])
    tmp = a.out / f".encoder.onnx.{os.getpid()}.tmp"
    torch.onnx.export(enc, (example,), str(tmp), input_names=["logmel"], output_names=["mid", "side"],
                      dynamic_axes={"logmel": {0: "batch", 2: "frames"}, "mid": {0: "batch"}, "side": {0: "batch"}},
                      opset_version=OPSET, dynamo=False)
    model = onnx.load(str(tmp))
    onnx.checker.check_model(model)
    os.replace(tmp, onnx_path)
    ref = ReferenceEvaluator(model)

    golden = {"sample_rate": SR, "frontend": settings, "signals": []}
    worst = 0.0
    for name in ("tones_1s", "chirp_3s", "short_10ms"):
        audio = torch.from_numpy(golden_signal(name))[None]
        with torch.no_grad():
            mel = frontend(audio)
            mid, side = enc(mel)
        o_mid, o_side = ref.run(None, {"logmel": mel.numpy()})
        for o, t in ((o_mid, mid), (o_side, side)):
            if not (np.isfinite(o).all() and torch.isfinite(t).all()):
                raise SystemExit(f"{name}: non-finite embedding (ONNX or PyTorch)")
            worst = max(worst, float(np.abs(o - t.numpy()).max()))
        golden["signals"].append({"name": name, "frames": mel.shape[2],
                                  "logmel_mid": mel[0, 0].flatten().tolist(), "logmel_side": mel[0, 1].flatten().tolist(),
                                  "mid": mid[0].tolist(), "side": side[0].tolist()})
    if worst > 1e-4:
        raise SystemExit(f"ONNX and PyTorch disagree by {worst}")
    atomic_write(a.out / "golden.json", json.dumps(golden).encode())
    frames_5s5 = frontend.n_frames(int(5.5 * SR))
    meta = {
        "format": "fxmatch-style-encoder/1",
        "precision": "float32",
        "frontend": settings,
        "sample_rate": SR,
        "dim": ck["dim"],
        "input": "logmel (batch, 2 [mid, side], frames, n_mels), dB, from the front end in frontend.json",
        "outputs": ["mid", "side"],
        "opset": OPSET,
        "parameters": sum(p.numel() for p in enc.parameters()),
        "macs_per_5s5_stereo": count_macs(enc, frames_5s5, settings["n_mels"]),
        "trained_epochs": ck["epoch"],
        "effects": ck["effects"],
        "n_presets": ck["n_presets"],
        "onnx_sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "onnx_vs_torch_max_abs_diff": worst,
    }
    arch = {"cnn": enc.convs is not None, "stats_width": ck.get("stats_width", 0), "lifter": enc.lifter}
    if arch != {"cnn": True, "stats_width": 0, "lifter": 0}:
        # Only for a network other than the plain CNN, so that re-running the shipped model's
        # recipe still gives its sidecar byte for byte (models/README.md checksums).
        meta["architecture"] = arch
    atomic_write(a.out / "encoder.json", json.dumps(meta, indent=2).encode())
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
