"""The pairs written by `fxmatch dataset`, read with numpy alone (memory-mapped float16 shards)."""

from __future__ import annotations

import json
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
