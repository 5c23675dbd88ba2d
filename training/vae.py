"""The spectrogram beta-VAE of the second seed (Grant, AES 2023, arXiv 2309.17125) as a style metric.

Usage:
  python training/vae.py train --data PAIRS_DIR --out RUN_DIR [--steps 250] [--cycles 1] [--batch 16]
  python training/vae.py export --run RUN_DIR --out MODEL_DIR

What the seed did, and what this does:
- Front end: the seed takes mono 24 kHz audio, STFT n_fft 4096 / hop 1024, magnitude |X|^0.3.
  Here the same analysis runs at 48 kHz without a resampler: a window of 8192 samples and a hop of
  2048 (the same 171 ms and 43 ms), keeping the 2049 bins from 0 to 12 kHz (the 24 kHz Nyquist),
  i.e. the seed's bins. Window and hop scale with the sample rate (in seconds), the bins stay on
  the 48 kHz grid (rates under 24 kHz have zeros above their Nyquist). Magnitudes are scaled by
  8192 / window so every rate gives the same values. The seed peak-normalises each clip to
  -12 dBFS; here mid (L+R)/2 and side (L-R)/2 share one gain that brings the louder of the two to
  a -12 dBFS peak (so the side keeps its level relative to the mid).
- Encoder: 4 strided 3x3 convolutions 1->8->16->32->32 (BatchNorm, LeakyReLU), then the mean over
  time and two linear heads to a 128-d mean and log-variance. The seed flattens a fixed-length
  clip (131,072 samples); the mean over time lets the encoder take any length (a live segment,
  a reference file) in one pass, as fxmatch's metrics must.
- Decoder (training only): linear -> (32, 129 bins, 4 frames) -> 4 transposed convolutions -> the
  (2049 x 64) spectrogram of the 2.86 s training crop.
- Loss: MSE reconstruction + beta * KL, beta cyclically annealed between 1e-4 and 5e-3 (each cycle
  rises geometrically over its first half and holds at 5e-3 for the second).
- Data: the clips of an `fxmatch dataset` folder, dry inputs and their processed outputs alike
  (fxmatch's own effects at their presets), so the latent has seen effects; the validation split
  (whole content files, data.py) is never trained on. Each example is the mid (3 in 4) or the
  side (1 in 4) of a random 2.86 s crop, normalised as above.

The embedding fxmatch uses (`--metric vae`) is the latent mean of mid and of side, compared by
cosine similarity. Writes RUN_DIR/checkpoint.pt (atomically, every --save-every steps; resumes
from it) and RUN_DIR/log.jsonl. `export` writes MODEL_DIR/vae.onnx (input `spec` (batch, 1,
2049, frames), output `mu` (batch, 128)), vae.json (front-end settings, sha256) and golden.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

SR = 48_000
WINDOW_48K = 8192
HOP_48K = 2048
N_BINS = 2049
POWER = 0.3
PEAK_DBFS = -12.0
PEAK_FLOOR = 1e-4
LATENT = 128
CROP_FRAMES = 64
CROP = WINDOW_48K + (CROP_FRAMES - 1) * HOP_48K  # 137,216 samples, 2.86 s
FORMAT = "fxmatch-vae/1"
OPSET = 17


def frontend_settings() -> dict:
    return {"window_48k": WINDOW_48K, "hop_48k": HOP_48K, "n_bins": N_BINS, "power": POWER,
            "peak_dbfs": PEAK_DBFS, "peak_floor": PEAK_FLOOR}


def mid_side_normalised(stereo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2, n) float32 -> mid and side, scaled so the louder peak is -12 dBFS (float32 throughout,
    as the Rust side)."""
    left, right = stereo[0].astype(np.float32), stereo[1].astype(np.float32)
    mid = (left + right) * np.float32(0.5)
    side = (left - right) * np.float32(0.5)
    peak = max(float(np.abs(mid).max(initial=0.0)), float(np.abs(side).max(initial=0.0)), PEAK_FLOOR)
    gain = np.float32(10.0 ** (PEAK_DBFS / 20.0) / peak)
    return mid * gain, side * gain


class Spectrogram(nn.Module):
    """Mono audio (B, n) at `sample_rate` -> (B, 1, 2049, frames), |X|^0.3 (module docs)."""

    def __init__(self, sample_rate: int = SR):
        super().__init__()
        self.window_len = max(16, round(WINDOW_48K * sample_rate / SR))
        self.hop = min(max(1, round(HOP_48K * sample_rate / SR)), self.window_len)
        n = torch.arange(self.window_len, dtype=torch.float64)
        self.register_buffer("window", (0.5 - 0.5 * torch.cos(2 * math.pi * n / self.window_len)).float())
        self.scale = WINDOW_48K / self.window_len

    def n_frames(self, length: int) -> int:
        return 1 if length < self.window_len else 1 + (length - self.window_len) // self.hop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < self.window_len:  # one frame, the clip centred in it
            left = (self.window_len - x.shape[-1]) // 2
            x = nn.functional.pad(x, (left, self.window_len - x.shape[-1] - left))
        frames = x.unfold(-1, self.window_len, self.hop) * self.window  # (B, T, W)
        mag = torch.fft.rfft(frames, dim=-1).abs() * self.scale
        bins = mag.shape[-1]
        if bins >= N_BINS:
            mag = mag[..., :N_BINS]
        else:
            mag = nn.functional.pad(mag, (0, N_BINS - bins))
        return mag.pow(POWER).transpose(1, 2)[:, None]  # (B, 1, F, T)


def conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2))


class VaeEncoder(nn.Module):
    """(B, 1, 2049, T) -> mean and log-variance (B, 128); any T >= 1."""

    def __init__(self, channels: tuple[int, ...] = (8, 16, 32, 32), latent: int = LATENT):
        super().__init__()
        chans = (1,) + channels
        self.convs = nn.Sequential(*[conv_block(a, b) for a, b in zip(chans, chans[1:])])
        f = N_BINS
        for _ in channels:
            f = (f - 1) // 2 + 1
        self.f_out = f
        self.mu = nn.Linear(channels[-1] * f, latent)
        self.logvar = nn.Linear(channels[-1] * f, latent)

    def forward(self, spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.convs(spec).mean(dim=3).flatten(1)
        return self.mu(h), self.logvar(h)


class MeanOnly(nn.Module):
    """The exported graph: the latent mean only."""

    def __init__(self, enc: VaeEncoder):
        super().__init__()
        self.enc = enc

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.enc(spec)[0]


class VaeDecoder(nn.Module):
    """z (B, 128) -> (B, 1, 2049, 64)."""

    def __init__(self, f_in: int, channels: tuple[int, ...] = (32, 32, 16, 8), latent: int = LATENT):
        super().__init__()
        self.f_in, self.c0 = f_in, channels[0]
        self.fc = nn.Linear(latent, channels[0] * f_in * 4)
        layers: list[nn.Module] = []
        chans = channels + (1,)
        for i, (a, b) in enumerate(zip(chans, chans[1:])):
            layers.append(nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=(0, 1)))
            if i < len(channels) - 1:
                layers += [nn.BatchNorm2d(b), nn.LeakyReLU(0.2)]
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = nn.functional.leaky_relu(self.fc(z), 0.2).view(-1, self.c0, self.f_in, 4)
        return self.deconvs(h)


def beta_at(step: int, steps: int, cycles: int, lo: float = 1e-4, hi: float = 5e-3) -> float:
    period = max(1, steps // max(1, cycles))
    phase = (step % period) / period
    return lo * (hi / lo) ** min(1.0, 2.0 * phase)


class Clips:
    """Every clip (dry input and processed output) of a pairs dataset, memory-mapped."""

    def __init__(self, root: Path, split: str, val_every: int = 10):
        manifest = json.loads((root / "dataset.json").read_text())
        self.frames = manifest["config"]["pairs"]["frames"]
        if self.frames < CROP:
            raise SystemExit(f"{root}: pairs of {self.frames} samples; the VAE needs {CROP} (make the dataset with 3 s pairs)")
        self.items: list[tuple[np.memmap, int, int]] = []
        for data, index in manifest["shards"]:
            idx = json.loads((root / index).read_text())
            arr = np.memmap(root / data, dtype="<f2", mode="r", shape=(idx["n"], 2, 2, idx["frames"]))
            for j, p in enumerate(idx["pairs"]):
                if (p["content"] % val_every == 0) == (split == "val"):
                    self.items += [(arr, j, 0), (arr, j, 1)]

    def draw(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        out = np.zeros((n, CROP), dtype=np.float32)
        for k in range(n):
            arr, j, which = self.items[int(rng.integers(len(self.items)))]
            start = int(rng.integers(0, self.frames - CROP + 1))
            stereo = np.asarray(arr[j, which, :, start:start + CROP], dtype=np.float32)
            mid, side = mid_side_normalised(stereo)
            out[k] = side if rng.random() < 0.25 else mid
        return torch.from_numpy(out)


def atomic_save(obj: object, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(a: argparse.Namespace) -> None:
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    train_clips, val_clips = Clips(a.data, "train"), Clips(a.data, "val")
    spec = Spectrogram()
    enc = VaeEncoder()
    dec = VaeDecoder(enc.f_out)
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=a.lr)
    step = 0
    ck_path = a.out / "checkpoint.pt"
    if ck_path.exists():
        ck = torch.load(ck_path, map_location="cpu", weights_only=False)
        enc.load_state_dict(ck["encoder"])
        dec.load_state_dict(ck["decoder"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        print(f"resuming at step {step}", flush=True)
    rng = np.random.default_rng(a.seed + step)
    val = spec(val_clips.draw(a.val_clips, np.random.default_rng(12345)))
    log = (a.out / "log.jsonl").open("a")
    t0 = time.time()
    acc = {"mse": 0.0, "kl": 0.0, "n": 0}
    while step < a.steps:
        enc.train(); dec.train()
        with torch.no_grad():
            x = spec(train_clips.draw(a.batch, rng))
        mu, logvar = enc(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        mse = nn.functional.mse_loss(dec(z), x)
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
        beta = beta_at(step, a.steps, a.cycles)
        loss = mse + beta * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        acc["mse"] += mse.item(); acc["kl"] += kl.item(); acc["n"] += 1
        if step % a.save_every == 0 or step == a.steps:
            enc.eval(); dec.eval()
            with torch.no_grad():
                vmu, vlv = [], []
                vm = 0.0
                for i in range(0, len(val), a.batch):
                    m, lv = enc(val[i:i + a.batch])
                    vm += float(nn.functional.mse_loss(dec(m), val[i:i + a.batch])) * len(m)
                    vmu.append(m); vlv.append(lv)
                m, lv = torch.cat(vmu), torch.cat(vlv)
                vkl = float((-0.5 * (1 + lv - m.pow(2) - lv.exp()).sum(1)).mean())
                active = int((m.var(0) > 0.01).sum())
            row = {"step": step, "beta": beta, "train_mse": acc["mse"] / acc["n"], "train_kl": acc["kl"] / acc["n"],
                   "val_mse": vm / len(val), "val_kl": vkl, "active_dims": active,
                   "seconds": round(time.time() - t0, 1)}
            print(json.dumps(row), flush=True)
            log.write(json.dumps(row) + "\n"); log.flush()
            acc = {"mse": 0.0, "kl": 0.0, "n": 0}
            atomic_save({"encoder": enc.state_dict(), "decoder": dec.state_dict(), "opt": opt.state_dict(),
                         "step": step, "args": {k: str(v) for k, v in vars(a).items()}, "val": row}, ck_path)


def golden_signal(name: str) -> np.ndarray:
    from frontend import golden_signal as g
    return g(name)


def embed_stereo(enc: nn.Module, stereo: np.ndarray, sample_rate: int = SR) -> tuple[torch.Tensor, torch.Tensor]:
    mid, side = mid_side_normalised(stereo)
    spec = Spectrogram(sample_rate)
    x = spec(torch.from_numpy(np.stack([mid, side])))
    with torch.no_grad():
        mu = enc(x)
    return x, mu


def export(a: argparse.Namespace) -> None:
    import onnx
    from onnx.reference import ReferenceEvaluator

    ck = torch.load(a.run / "checkpoint.pt", map_location="cpu", weights_only=False)
    enc = VaeEncoder()
    enc.load_state_dict(ck["encoder"])
    net = MeanOnly(enc).eval()
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "vae.onnx"
    tmp = a.out / f".vae.onnx.{os.getpid()}.tmp"
    torch.onnx.export(net, (torch.zeros(2, 1, N_BINS, 67),), str(tmp), input_names=["spec"], output_names=["mu"],
                      dynamic_axes={"spec": {0: "batch", 3: "frames"}, "mu": {0: "batch"}},
                      opset_version=OPSET, dynamo=False)
    model = onnx.load(str(tmp))
    onnx.checker.check_model(model)
    os.replace(tmp, path)
    ref = ReferenceEvaluator(model)
    golden = {"sample_rate": SR, "signals": []}
    worst = 0.0
    for name in ("tones_1s", "chirp_3s", "short_10ms"):
        x, mu = embed_stereo(net, golden_signal(name))
        (o,) = ref.run(None, {"spec": x.numpy()})
        worst = max(worst, float(np.abs(o - mu.numpy()).max()))
        golden["signals"].append({"name": name, "frames": x.shape[3],
                                  "spec_sum_mid": float(x[0].double().sum()), "spec_sum_side": float(x[1].double().sum()),
                                  "mid": mu[0].tolist(), "side": mu[1].tolist()})
    if worst > 1e-3:
        raise SystemExit(f"ONNX and PyTorch disagree by {worst}")
    (a.out / "golden.json").write_text(json.dumps(golden) + "\n")
    val = ck.get("val", {})
    meta = {
        "format": FORMAT,
        "precision": "float32",
        "frontend": frontend_settings(),
        "dim": LATENT,
        "input": "spec (batch, 1, 2049 bins 0-12 kHz, frames), |X|^0.3 of mid or side (training/vae.py)",
        "output": "mu (batch, 128): the latent mean",
        "opset": OPSET,
        "parameters": sum(p.numel() for p in enc.parameters()),
        "trained_steps": ck["step"],
        "val_mse": val.get("val_mse"),
        "val_kl": val.get("val_kl"),
        "active_dims": val.get("active_dims"),
        "onnx_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "onnx_vs_torch_max_abs_diff": worst,
    }
    (a.out / "vae.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--steps", type=int, default=250)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--cycles", type=int, default=1)
    t.add_argument("--save-every", type=int, default=100)
    t.add_argument("--val-clips", type=int, default=128)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("export")
    e.add_argument("--run", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    train(a) if a.cmd == "train" else export(a)


if __name__ == "__main__":
    main()
