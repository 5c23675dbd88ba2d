"""Train the style encoder on the pretext task (ST-ITO): which effect, which preset.

Usage: python training/train.py --data DATASET_DIR --out RUN_DIR [--epochs 30] [--batch 32]

Writes RUN_DIR/checkpoint.pt after every epoch (atomically: temporary file, then rename) and
resumes from it when present; RUN_DIR/log.jsonl has one line of figures per epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from data import PairData
from frontend import LogMel, load_settings
from model import PretextHeads, StyleEncoder


def atomic_save(obj: object, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def random_crop(x: torch.Tensor, y: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random window of `frames` samples from x and y (the pair stays aligned)."""
    if frames <= 0 or frames >= x.shape[-1]:
        return x, y
    start = int(torch.randint(0, x.shape[-1] - frames + 1, (1,)))
    return x[..., start:start + frames], y[..., start:start + frames]


def run_epoch(enc, heads, frontend, loader, opt=None, crop: int = 0) -> dict:
    train = opt is not None
    enc.train(train)
    heads.train(train)
    ce = nn.CrossEntropyLoss()
    tot = {"loss": 0.0, "effect_acc": 0.0, "preset_acc": 0.0, "n": 0}
    with torch.set_grad_enabled(train):
        for x, y, effect, preset in loader:
            b = x.shape[0]
            if train:
                x, y = random_crop(x, y, crop)
            with torch.no_grad():
                mels = frontend(torch.cat([x, y], dim=0))
            mid, side = enc(mels)
            emb = torch.cat([mid, side], dim=1)
            le, lp = heads(emb[:b], emb[b:])
            loss = ce(le, effect) + ce(lp, preset)
            if train:
                opt.zero_grad()
                loss.backward()
                opt.step()
            tot["loss"] += loss.item() * b
            tot["effect_acc"] += (le.argmax(1) == effect).sum().item()
            tot["preset_acc"] += (lp.argmax(1) == preset).sum().item()
            tot["n"] += b
    n = max(1, tot.pop("n"))
    return {k: v / n for k, v in tot.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crop", type=float, default=0.0,
                    help="train on random aligned crops of this many seconds (0: whole excerpts); validation uses whole excerpts")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a.out.mkdir(parents=True, exist_ok=True)

    settings = load_settings(a.data / "frontend.json")
    train_set, val_set = PairData(a.data, "train"), PairData(a.data, "val")
    n_eff, n_pre = len(train_set.effects), train_set.n_presets
    frontend = LogMel(settings).to(device)
    enc = StyleEncoder(settings["n_mels"], a.dim).to(device)
    heads = PretextHeads(a.dim, n_eff, n_pre).to(device)
    opt = torch.optim.AdamW(list(enc.parameters()) + list(heads.parameters()), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs)
    ckpt_path = a.out / "checkpoint.pt"
    start = 0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        enc.load_state_dict(ck["encoder"])
        heads.load_state_dict(ck["heads"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        torch.set_rng_state(ck["rng"])
        start = ck["epoch"]
        print(f"resuming after epoch {start}")
    gen = torch.Generator().manual_seed(a.seed)
    train_loader = DataLoader(train_set, batch_size=a.batch, shuffle=True, generator=gen, num_workers=a.workers,
                              drop_last=len(train_set) > a.batch)
    val_loader = DataLoader(val_set, batch_size=a.batch, num_workers=a.workers)
    print(f"{len(train_set)} train / {len(val_set)} val pairs, {n_eff} effects x {n_pre} presets, "
          f"{sum(p.numel() for p in enc.parameters())} encoder parameters, device {device}")

    def to_dev(loader):
        for x, y, e, p in loader:
            yield x.to(device), y.to(device), e.to(device), p.to(device)

    for epoch in range(start, a.epochs):
        t0 = time.time()
        tr = run_epoch(enc, heads, frontend, to_dev(train_loader), opt, crop=round(a.crop * 48_000))
        va = run_epoch(enc, heads, frontend, to_dev(val_loader)) if len(val_set) else {}
        sched.step()
        row = {"epoch": epoch + 1, "seconds": round(time.time() - t0, 1),
               **{f"train_{k}": round(v, 4) for k, v in tr.items()}, **{f"val_{k}": round(v, 4) for k, v in va.items()}}
        print(json.dumps(row), flush=True)
        with open(a.out / "log.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        atomic_save({"encoder": enc.state_dict(), "heads": heads.state_dict(), "opt": opt.state_dict(),
                     "sched": sched.state_dict(), "rng": torch.get_rng_state(), "epoch": epoch + 1,
                     "settings": settings, "dim": a.dim, "effects": train_set.effects, "n_presets": n_pre}, ckpt_path)


if __name__ == "__main__":
    main()
