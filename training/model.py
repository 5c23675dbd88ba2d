"""The style encoder: a compact 2-D CNN over a log-mel spectrogram, applied to mid and side.

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


class StyleEncoder(nn.Module):
    """Shared CNN for mid and side: 5 conv blocks (24-32-64-128-128 channels, 4 poolings), then the
    mean and standard deviation over time of every (channel, frequency) cell, and a linear layer."""

    def __init__(self, n_mels: int = 64, dim: int = 128, widths: tuple[int, ...] = (24, 32, 64, 128, 128),
                 lifter: int = 0):
        super().__init__()
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
        self.convs = nn.Sequential(*[block(chans[i], chans[i + 1], pool=i < 4) for i in range(len(widths))])
        self.n_freq = n_mels // 16
        self.proj = nn.Linear(2 * widths[-1] * self.n_freq, dim)
        self.dim = dim

    def embed_one(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, frames, n_mels) dB -> (B, dim), L2-normalised."""
        if self.lifter:
            logmel = logmel @ self.smooth
        x = ((logmel + 40.0) / 20.0)[:, None]  # fixed affine: -100..0 dB -> -3..2
        h = self.convs(x)  # (B, C, T', F')
        mean = h.mean(dim=2)
        std = (h.pow(2).mean(dim=2) - mean.pow(2)).clamp_min(1e-6).sqrt()
        z = self.proj(torch.cat([mean, std], dim=1).flatten(1))
        return z / z.norm(dim=1, keepdim=True).clamp_min(1e-6)

    def forward(self, logmel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = logmel.shape[0]
        z = self.embed_one(torch.cat([logmel[:, 0], logmel[:, 1]], dim=0))
        return z[:b], z[b:]


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
