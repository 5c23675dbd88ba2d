"""The pairs written by `fxmatch dataset`, read with numpy alone (memory-mapped float16 shards)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset


class PairData(Dataset):
    """Pairs (x, y, effect_id, preset class) from a dataset folder.

    `split` is "train" or "val": validation holds the pairs whose content id is a multiple of
    `val_every` (whole content files, so validation content is never heard in training).
    The preset class is global: effect_id * n_presets + preset.
    """

    def __init__(self, root: str | Path, split: str, val_every: int = 10):
        root = Path(root)
        manifest_path = root / "dataset.json"
        if not manifest_path.exists():
            raise FileNotFoundError(f"{manifest_path} is missing: run `fxmatch dataset CONTENT {root}` first")
        self.manifest = json.loads(manifest_path.read_text())
        self.effects: list[str] = self.manifest["effects"]
        self.n_presets: int = self.manifest["n_presets"]
        self.frames: int = self.manifest["config"]["pairs"]["frames"]
        self.items: list[tuple[np.memmap, int, int, int]] = []
        for data, index in self.manifest["shards"]:
            idx = json.loads((root / index).read_text())
            arr = np.memmap(root / data, dtype="<f2", mode="r", shape=(idx["n"], 2, 2, idx["frames"]))
            for j, p in enumerate(idx["pairs"]):
                is_val = p["content"] % val_every == 0
                if is_val == (split == "val"):
                    self.items.append((arr, j, p["effect_id"], p["effect_id"] * self.n_presets + p["preset"]))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        arr, j, effect, preset = self.items[i]
        pair = torch.from_numpy(np.asarray(arr[j], dtype=np.float32))
        return pair[0], pair[1], effect, preset


def read_pcm16(path: str | Path, sample_rate: int = 48_000) -> np.ndarray:
    """A 16-bit PCM WAV at `sample_rate` (`make_content.py`'s output) as int16 (channels, frames)."""
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2 or w.getframerate() != sample_rate:
            raise ValueError(f"{path}: expected 16-bit PCM at {sample_rate} Hz; remake it with make_content.py")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels()).T


class ContentPool:
    """The dry clips of a content folder (`make_content.py` output: 16-bit WAVs at any depth),
    held in memory as int16, to draw fresh random excerpts from. The EQ positives of
    `train.py --eq-content` come from here, so they see far more content than the pair dataset
    holds (10 000 pairs of 3 s = 8 hours of pair storage; a pool of 3 hours of content is 2 GB).
    """

    def __init__(self, root: str | Path, sample_rate: int = 48_000):
        self.sample_rate = sample_rate
        self.clips: list[torch.Tensor] = []
        for path in sorted(Path(root).rglob("*.wav")):
            a = read_pcm16(path, sample_rate)
            if a.shape[1] == 0:
                continue  # an empty render (an instrument with no sample at those notes)
            self.clips.append(torch.from_numpy(np.ascontiguousarray(np.broadcast_to(a, (2, a.shape[1])))))
        if not self.clips:
            raise FileNotFoundError(f"no usable WAV under {root}: make content with training/make_content.py")
        self.lengths = torch.tensor([c.shape[1] for c in self.clips], dtype=torch.float)

    def seconds(self) -> float:
        return float(self.lengths.sum()) / self.sample_rate

    def excerpt(self, frames: int, generator: torch.Generator | None) -> torch.Tensor:
        """One excerpt (2, frames): a clip drawn in proportion to its length, a random offset
        (a short clip zero-padded at the end)."""
        clip = self.clips[int(torch.multinomial(self.lengths, 1, generator=generator))]
        start = int(torch.randint(0, max(1, clip.shape[1] - frames + 1), (1,), generator=generator))
        seg = clip[:, start:start + frames].float() / 32768.0
        return torch.nn.functional.pad(seg, (0, frames - seg.shape[1]))

    def draw(self, n: int, frames: int, generator: torch.Generator | None = None,
             gain_db: tuple[float, float] = (-12.0, 0.0), min_rms_db: float = -50.0) -> torch.Tensor:
        """`n` excerpts (n, 2, frames) float32, as `fxmatch dataset` draws the pairs' excerpts:
        one quieter than `min_rms_db` is redrawn (up to 20 times; silence looks the same under
        every EQ, so it would be a positive that teaches nothing), then scaled by a random input
        gain in `gain_db`."""
        out = torch.zeros(n, 2, frames)
        min_power = 10.0 ** (min_rms_db / 10.0)
        for k in range(n):
            seg = self.excerpt(frames, generator)
            for _ in range(20):
                if float(seg.pow(2).mean()) >= min_power:
                    break
                seg = self.excerpt(frames, generator)
            out[k] = seg
        lo, hi = gain_db
        gain = 10.0 ** ((lo + (hi - lo) * torch.rand(n, generator=generator)) / 20.0)
        return out * gain[:, None, None]
