"""The style encoder: a compact 2-D CNN over a log-mel spectrogram, applied to mid and side, with
an optional second branch on per-band statistics over time (`band_statistics`).

Input: log-mel dB, (B, 2 [mid, side], frames, n_mels), any number of frames >= 1. Output: mid and
side embeddings, each (B, dim), L2-normalised; the style embedding is their concatenation (as in
ST-ITO). The exported ONNX model is exactly this module: the front end runs outside it (Rust:
src/metric/frontend.rs; training: frontend.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2, ceil_mode=True))  # any length >= 1 frame stays >= 1
    return nn.Sequential(*layers)


def band_statistics(logmel: torch.Tensor) -> torch.Tensor:
    """Per-band statistics over time of a log-mel (B, frames, n_mels) dB -> (B, 3 * n_mels + 2):
    the long-term average spectrum (power mean, dB), the mean and the standard deviation of each
    band's level, and the mean and standard deviation of the frames' total level, each scaled to
    about unit range. An EQ moves the first two by its curve whatever is played; a compressor
    narrows the spreads. What the notes are barely shows."""
    power = torch.pow(10.0, logmel / 10.0)
    ltas = 10.0 * torch.log10(power.mean(dim=1).clamp_min(1e-10))
    mean = logmel.mean(dim=1)
    std = (logmel - mean[:, None]).pow(2).mean(dim=1).clamp_min(1e-6).sqrt()  # two passes: no cancellation near -100 dB
    frame = 10.0 * torch.log10(power.sum(dim=2).clamp_min(1e-10))  # (B, frames)
    f_mean = frame.mean(dim=1, keepdim=True)
    f_std = (frame - f_mean).pow(2).mean(dim=1, keepdim=True).clamp_min(1e-6).sqrt()
    return torch.cat([(ltas + 40.0) / 20.0, (mean + 40.0) / 20.0, std / 10.0, (f_mean + 20.0) / 20.0, f_std / 10.0], dim=1)


class StyleEncoder(nn.Module):
    """Shared network for mid and side. The CNN branch: 5 conv blocks (24-32-64-128-128 channels, 4
    poolings), then the mean and standard deviation over time of every (channel, frequency) cell.
    The band-statistics branch (`stats_width` > 0): `band_statistics` through a two-layer MLP.
    A linear layer maps what the branches give to the embedding. `cnn=False` keeps the statistics
    branch alone."""

    def __init__(self, n_mels: int = 64, dim: int = 128, widths: tuple[int, ...] = (24, 32, 64, 128, 128),
                 lifter: int = 0, stats_width: int = 0, cnn: bool = True):
        super().__init__()
        if not cnn and not stats_width:
            raise ValueError("an encoder without the CNN needs the statistics branch (stats_width > 0)")
        # lifter > 0: keep only the first `lifter` DCT coefficients of every log-mel frame (a
        # cepstrally smoothed envelope: the shape an EQ gives, without the harmonics of the notes).
        self.lifter = lifter
        if lifter:
            k = torch.arange(n_mels, dtype=torch.float64)
            dct = torch.cos(math.pi / n_mels * (k[None, :] + 0.5) * k[:, None]) * math.sqrt(2.0 / n_mels)
            dct[0] /= math.sqrt(2.0)  # orthonormal DCT-II, rows = coefficients
            keep = dct[:lifter]
            self.register_buffer("smooth", (keep.t() @ keep).float(), persistent=False)
        chans = (1,) + widths
        self.convs = nn.Sequential(*[block(chans[i], chans[i + 1], pool=i < 4) for i in range(len(widths))]) if cnn else None
        self.n_freq = n_mels // 16
        self.stats = nn.Sequential(nn.Linear(3 * n_mels + 2, stats_width), nn.ReLU(),
                                   nn.Linear(stats_width, stats_width), nn.ReLU()) if stats_width else None
        self.proj = nn.Linear((2 * widths[-1] * self.n_freq if cnn else 0) + stats_width, dim)
        self.dim = dim

    def embed_one(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, frames, n_mels) dB -> (B, dim), L2-normalised."""
        if self.lifter:
            logmel = logmel @ self.smooth
        parts = []
        if self.convs is not None:
            x = ((logmel + 40.0) / 20.0)[:, None]  # fixed affine: -100..0 dB -> -3..2
            h = self.convs(x)  # (B, C, T', F')
            mean = h.mean(dim=2)
            std = (h.pow(2).mean(dim=2) - mean.pow(2)).clamp_min(1e-6).sqrt()
            parts.append(torch.cat([mean, std], dim=1).flatten(1))
        if self.stats is not None:
            parts.append(self.stats(band_statistics(logmel)))
        z = self.proj(torch.cat(parts, dim=1))
        return z / z.norm(dim=1, keepdim=True).clamp_min(1e-6)

    def forward(self, logmel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = logmel.shape[0]
        z = self.embed_one(torch.cat([logmel[:, 0], logmel[:, 1]], dim=0))
        return z[:b], z[b:]


def encoder_from_checkpoint(ck: dict) -> StyleEncoder:
    """The encoder a `train.py` checkpoint describes, with its weights, in eval mode."""
    enc = StyleEncoder(ck["settings"]["n_mels"], ck["dim"], lifter=ck.get("lifter", 0),
                       stats_width=ck.get("stats_width", 0), cnn=ck.get("cnn", True))
    enc.load_state_dict(ck["encoder"])
    return enc.eval()


class PretextHeads(nn.Module):
    """Effect and preset classifiers on (e(x), e(f(x))): concatenation and difference of the
    style embeddings (mid ++ side) of the dry and the processed excerpt."""

    def __init__(self, dim: int, n_effects: int, n_presets: int, hidden: int = 256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3 * 2 * dim, hidden), nn.ReLU())
        self.effect = nn.Linear(hidden, n_effects)
        self.preset = nn.Linear(hidden, n_effects * n_presets)

    def forward(self, ex: torch.Tensor, ey: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.mlp(torch.cat([ex, ey, ey - ex], dim=1))
        return self.effect(h), self.preset(h)


def count_macs(model: StyleEncoder, frames: int, n_mels: int) -> int:
    """Multiply-accumulates of one stereo (mid + side) embedding of `frames` frames."""
    macs = 0

    def conv_hook(m: nn.Conv2d, _inp, out):
        nonlocal macs
        macs += out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups

    def lin_hook(m: nn.Linear, _inp, out):
        nonlocal macs
        macs += out.numel() * m.in_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(lin_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, 2, frames, n_mels))
    for h in hooks:
        h.remove()
    return macs
