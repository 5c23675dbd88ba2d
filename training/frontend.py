"""The log-mel front end in PyTorch: a line-for-line port of src/metric/frontend.rs.

The settings come from the JSON that `fxmatch dataset` writes (`frontend.json`, the Rust
`FrontEndSettings`), so both sides read one definition. For a signal at `sample_rate`:
periodic Hann window of W samples, hop H, frames `t*H .. t*H+W` (the tail that fills no frame is
dropped; a clip shorter than W is one frame, centred), zero-padded FFT of N = next power of two
of W, power `|X[k]|^2 * 2 / (N * sum w^2)` (Nyquist bin factor 1), HTK-mel triangles with peak 1
over the bins strictly inside each triangle, floor, `10*log10`. Mid = (L+R)/2, side = (L-R)/2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

SR = 48_000


def load_settings(path: str | Path) -> dict:
    defaults = {"window_48k": 2048, "hop_48k": 1024, "n_mels": 64, "f_min_hz": 20.0, "f_max_hz": 16000.0,
                "floor_db": -100.0}
    s = json.loads(Path(path).read_text())
    unknown = set(s) - set(defaults)
    if unknown:
        raise ValueError(f"{path}: unknown front-end settings {sorted(unknown)}")
    return {**defaults, **s}


def hz_to_mel(f: float) -> float:
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_to_hz(m: float) -> float:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


class LogMel(torch.nn.Module):
    """Stereo audio (B, 2, T) -> log-mel dB (B, 2 [mid, side], frames, n_mels)."""

    def __init__(self, settings: dict, sample_rate: int = 48_000):
        super().__init__()
        self.settings = settings
        scale = lambda n: max(1, round(n * sample_rate / 48_000.0))  # noqa: E731
        self.window_len = max(scale(settings["window_48k"]), 16)
        self.hop = min(scale(settings["hop_48k"]), self.window_len)
        self.n_fft = 1 << (self.window_len - 1).bit_length()
        n = torch.arange(self.window_len, dtype=torch.float64)
        window = (0.5 - 0.5 * torch.cos(2 * math.pi * n / self.window_len)).float()
        sum_w2 = float((window.double() ** 2).sum())
        self.power_scale = 2.0 / (self.n_fft * sum_w2)

        m_lo, m_hi = hz_to_mel(settings["f_min_hz"]), hz_to_mel(settings["f_max_hz"])
        n_mels = settings["n_mels"]
        edges = [mel_to_hz(m_lo + (m_hi - m_lo) * i / (n_mels + 1)) for i in range(n_mels + 2)]
        bin_hz = sample_rate / self.n_fft
        n_bins = self.n_fft // 2 + 1
        k_lo = min(math.floor(edges[0] / bin_hz) + 1, n_bins)
        ks = [k for k in range(k_lo, n_bins) if k * bin_hz < edges[-1]]
        # take_while in Rust: ks is contiguous from k_lo because frequencies increase.
        fb = torch.zeros(n_bins, n_mels, dtype=torch.float64)
        for b in range(n_mels):
            lo, c, up = edges[b], edges[b + 1], edges[b + 2]
            for k in ks:
                f = k * bin_hz
                if lo < f < up:
                    fb[k, b] = (f - lo) / (c - lo) if f <= c else (up - f) / (up - c)
        nyquist = n_bins - 1
        bin_weight = torch.ones(n_bins, dtype=torch.float64)
        bin_weight[nyquist] = 0.5
        self.register_buffer("window", window)
        self.register_buffer("filterbank", (fb.float() * bin_weight.float()[:, None]))
        self.floor = 10.0 ** (settings["floor_db"] / 10.0)

    def n_frames(self, length: int) -> int:
        return 1 if length < self.window_len else 1 + (length - self.window_len) // self.hop

    def bin_freqs(self, sample_rate: int = 48_000) -> torch.Tensor:
        """Centre frequency (Hz) of every FFT bin."""
        return torch.arange(self.n_fft // 2 + 1, dtype=torch.float32) * (sample_rate / self.n_fft)

    def forward(self, audio: torch.Tensor, eq_db: torch.Tensor | None = None,
                comp: dict | None = None, warp: torch.Tensor | None = None) -> torch.Tensor:
        """`eq_db` (B, bins), optional: a static EQ (magnitude response in dB per FFT bin) applied
        to the power spectrum before the mel bands (training augmentation). `comp`, optional: a
        compressor after the EQ, at frame resolution (see `compress_frames`)."""
        left, right = audio[:, 0], audio[:, 1]
        ms = torch.stack([(left + right) * 0.5, (left - right) * 0.5], dim=1)  # (B, 2, T)
        length = ms.shape[-1]
        if length < self.window_len:
            pad = (self.window_len - length) // 2
            frames = torch.nn.functional.pad(ms, (pad, self.window_len - length - pad))[..., None, :]
        else:
            frames = ms.unfold(-1, self.window_len, self.hop)  # (B, 2, F, W)
        spec = torch.fft.rfft(frames * self.window, n=self.n_fft)
        power = spec.real**2 + spec.imag**2
        if warp is not None:
            power = warp_frequency(power, warp)
        if eq_db is not None:
            power = power * (10.0 ** (eq_db / 10.0))[:, None, None, :]
        if comp is not None:
            gr_db = compress_frames(power.sum(dim=(1, 3)) * self.power_scale, self.hop / SR, **comp)
            power = power * (10.0 ** (-gr_db / 10.0))[:, None, :, None]
        bands = (power @ self.filterbank) * self.power_scale
        return 10.0 * torch.log10(bands.clamp_min(self.floor))


def warp_frequency(power: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Power spectra (B, ..., bins) with every component moved from f to `factor` * f (one factor
    per item, linear interpolation between bins): the notes and the formants of the content move
    together, as a new instrument or register would (training augmentation: more content)."""
    bins = power.shape[-1]
    src = torch.arange(bins, dtype=power.dtype, device=power.device)[None, :] / factor[:, None]  # (B, bins)
    lo = src.floor().clamp(0, bins - 1)
    frac = (src - lo).clamp(0, 1)
    lo = lo.long()
    hi = (lo + 1).clamp(max=bins - 1)
    shape = power.shape
    flat = power.reshape(shape[0], -1, bins)
    idx = lambda i: i[:, None, :].expand(-1, flat.shape[1], -1)  # noqa: E731
    out = flat.gather(2, idx(lo)) * (1 - frac)[:, None, :] + flat.gather(2, idx(hi)) * frac[:, None, :]
    out = out * (src < bins - 1).to(power.dtype)[:, None, :]
    return out.reshape(shape)


def compress_frames(frame_power: torch.Tensor, hop_s: float, depth_db: torch.Tensor,
                    ratio: torch.Tensor, attack_s: torch.Tensor, release_s: torch.Tensor) -> torch.Tensor:
    """Gain reduction in dB (B, F) of a feed-forward compressor (hard knee, no makeup) run on frame
    levels: `frame_power` (B, F) is each frame's power, mid and side summed. The threshold sits
    `depth_db` below the excerpt's mean level, so that it bites whatever the excerpt's loudness;
    the gain follows the static curve through a one-pole smoother per frame, with the attack
    time constant while the reduction grows and the release one while it shrinks. `ratio` 1 is
    no compression. Per-excerpt parameters are (B,) tensors. A training augmentation: it
    approximates a sample-level compressor at the front end's frame rate (21 ms)."""
    level = 10.0 * torch.log10(frame_power.clamp_min(1e-12))
    mean = 10.0 * torch.log10(frame_power.mean(dim=1, keepdim=True).clamp_min(1e-12))
    over = (level - (mean - depth_db[:, None])).clamp_min(0.0)
    target = over * (1.0 - 1.0 / ratio[:, None])
    a_att, a_rel = torch.exp(-hop_s / attack_s), torch.exp(-hop_s / release_s)
    g = torch.zeros_like(target[:, 0])
    out = []
    for f in range(target.shape[1]):
        t = target[:, f]
        a = torch.where(t > g, a_att, a_rel)
        g = a * g + (1.0 - a) * t
        out.append(g)
    return torch.stack(out, dim=1)


def golden_signal(name: str) -> np.ndarray:
    """Test signals, computed in float64 and rounded to float32 (Rust does the same)."""
    if name == "tones_1s":
        t = np.arange(SR, dtype=np.float64) / SR
        left = 0.5 * np.sin(2 * math.pi * 440 * t) + 0.1 * np.sin(2 * math.pi * 3000 * t)
        right = 0.3 * np.sin(2 * math.pi * 440 * t + 1.0) + 0.05 * np.sin(2 * math.pi * 12000 * t)
    elif name == "chirp_3s":
        t = np.arange(3 * SR, dtype=np.float64) / SR
        left = 0.4 * np.sin(2 * math.pi * (50 * t + 1000 * t * t))
        right = 0.4 * np.sin(2 * math.pi * (50 * t + 1000 * t * t)) * np.exp(-t)
    elif name == "short_10ms":
        t = np.arange(480, dtype=np.float64) / SR
        left = right = 0.8 * np.sin(2 * math.pi * 1000 * t)
    else:
        raise ValueError(name)
    return np.stack([left, right]).astype(np.float32)


def write_golden(settings_path: Path, out: Path) -> None:
    """Log-mel of the test signals, for the Rust parity test (tests/frontend_parity.rs)."""
    settings = load_settings(settings_path)
    fe = LogMel(settings)
    signals = []
    for name in ("tones_1s", "short_10ms"):
        mel = fe(torch.from_numpy(golden_signal(name))[None].double().float())
        signals.append({"name": name, "frames": mel.shape[2], "mid": [round(v, 4) for v in mel[0, 0].flatten().tolist()],
                        "side": [round(v, 4) for v in mel[0, 1].flatten().tolist()]})
    out.write_text(json.dumps({"frontend": settings, "signals": signals}) + "\n")


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python training/frontend.py FRONTEND_JSON OUT_GOLDEN_JSON")
    write_golden(Path(sys.argv[1]), Path(sys.argv[2]))
