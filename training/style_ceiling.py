#!/usr/bin/env python3
"""How far can any encoder go on the zero-shot task with this content? A yardstick, never a model
to ship.

Usage:
  python training/style_ceiling.py --train DIR [DIR ...] --test DIR [DIR ...]
         [--objective styles|supcon] [--compressor] [--cnn] [--steps 1000] [--save RUN]

Trains the band-statistics encoder (`model.StyleEncoder(cnn=False, stats_width=256)`; with `--cnn`
the shipped encoder's CNN beside it, a larger network: 6 s a step here, beside a build) on fresh
3 s excerpts of the training content (`make_content.py` folders; a batch draws equally from each
`--train` folder) under one of two objectives:

- `styles`: a linear classifier on the embedding learns the benchmark's five styles THEMSELVES
  (shared/BENCHMARK.md §1). This leaks the evaluation's classes into training, which is why it is
  only a yardstick: no encoder trained without them should do better on held-out content.
- `supcon`: supervised contrastive loss with random static EQs as the classes (16 EQs x 4
  excerpts of different content per batch; `train.random_eq_db`): what the shipped model's EQ
  pairs teach, alone, without the benchmark's styles.

The styles' EQ is applied as the RBJ biquads of `src/eval/styles.rs` in the front end (as
`diagnose_zero_shot.py` does). Their compressors are left out unless `--compressor` is given;
without them neutral and broadcast, which differ mostly by compression, are near chance. With
it, each style's compressor runs at the front end's frame rate (`frontend.compress_frames`, as
`train.py --comp-pairs` does), its absolute threshold (dBFS) measured against the excerpt's own
level before any normalisation, as the benchmark's chain sees it. Every excerpt's level is
then matched to its dry excerpt. On each `--test` folder it prints (a) the `styles` classifier's accuracy, and
(b) the zero-shot protocol of `fxmatch eval zero-shot` on the embedding (3000 trials: one query,
one prototype per style from another clip, mean of the mid and side cosines), by style and by
the query clip's kind (held-out music made by `make_content.py --held-out` with seed 0).
`--save RUN` writes RUN/checkpoint.pt in `train.py`'s format, so that `export.py --run RUN`
makes an ONNX model for the real benchmark (`fxmatch eval zero-shot --model`).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from data import ContentPool, read_pcm16
from diagnose_zero_shot import STYLES, accuracy_row, piece_of, style_compressor, style_curve_db, zero_shot_trials
from frontend import LogMel
from model import StyleEncoder
from train import atomic_save, match_level, random_eq_db, supcon_loss

ROOT = Path(__file__).resolve().parent.parent
SR = 48_000
DIM = 128


def style_comps(styles: list[int], rng: random.Random, level_db: torch.Tensor) -> dict:
    """One random instance of each listed style's compressor for `LogMel.forward(comp=...)`.
    `level_db` (len(styles),): each excerpt's RMS level in dBFS as it enters the chain, which
    turns the absolute threshold into `compress_frames`' depth below the excerpt's mean."""
    depth, ratio, attack, release = [], [], [], []
    for s, level in zip(styles, level_db.tolist()):
        th, ra, at, re = style_compressor(STYLES[s], rng)
        depth.append(level - th)
        ratio.append(ra)
        attack.append(at / 1000)
        release.append(re / 1000)
    return {k: torch.tensor(v, dtype=torch.float32)
            for k, v in [("depth_db", depth), ("ratio", ratio), ("attack_s", attack), ("release_s", release)]}


def styled_mels(fe: LogMel, x: torch.Tensor, styles: list[int], rng: random.Random, freqs: np.ndarray,
                floor_db: float, level_db: torch.Tensor | None) -> torch.Tensor:
    """Log-mels of the excerpts `x` (B, 2, frames), each through one random instance of its style:
    the EQ, and the compressor when `level_db` (each excerpt's level entering the chain) is
    given; level matched to the dry excerpt."""
    curves = torch.tensor(np.stack([style_curve_db(STYLES[s], rng, freqs) for s in styles]), dtype=torch.float32)
    comp = style_comps(styles, rng, level_db) if level_db is not None else None
    return match_level(fe(x, eq_db=curves, comp=comp), fe(x), floor_db)


def rms_db(x: torch.Tensor) -> torch.Tensor:
    """RMS level in dBFS of each excerpt of (B, channels, frames)."""
    return 10 * torch.log10(x.pow(2).mean(dim=(1, 2)).clamp_min(1e-12))


def evaluate(enc: StyleEncoder, head: nn.Linear, fe: LogMel, folder: Path, instances: int, seed: int,
             compressor: bool) -> None:
    files = [p for p in sorted(folder.glob("*.wav")) if p.stat().st_size > 44]  # skip empty renders
    clips = [read_pcm16(p, SR).astype(np.float32) / 32768 for p in files]
    kinds = [piece_of(int(p.stem.split("_")[1]), 0, True).kind if p.stem.startswith("music_") else "speech"
             for p in files]
    freqs, floor_db, frames = fe.bin_freqs().numpy(), 10 * math.log10(fe.floor), 3 * SR
    rng = random.Random(seed)
    bank = torch.zeros(len(clips), 5, instances, 2 * DIM)
    direct = np.zeros((5, 5), int)
    with torch.no_grad():
        for ci, c in enumerate(clips):
            c = np.repeat(c, 2, axis=0) if c.shape[0] == 1 else c
            xs, levels, styles = [], [], []
            for k in range(5):
                for _ in range(instances):
                    st = rng.randrange(0, max(1, c.shape[1] - frames))
                    x = np.pad(c[:, st:st + frames], ((0, 0), (0, max(0, st + frames - c.shape[1]))))
                    rms = max(1e-9, float(np.sqrt((x ** 2).mean())))
                    xs.append(x / rms * 0.1)
                    levels.append(20 * math.log10(rms))
                    styles.append(k)
            x = torch.tensor(np.stack(xs))
            mid, side = enc(styled_mels(fe, x, styles, rng, freqs, floor_db, torch.tensor(levels) if compressor else None))
            e = torch.cat([mid, side], 1)
            for s, p in zip(styles, head(e).argmax(1).tolist()):
                direct[s, p] += 1
            bank[ci] = e.view(5, instances, 2 * DIM)
    def similarity(q: int, truth: int, qi: int, p: int, k: int, pi: int) -> float:
        eq, ep = bank[q, truth, qi], bank[p, k, pi]
        return 0.5 * float(eq[:DIM] @ ep[:DIM] + eq[DIM:] @ ep[DIM:])

    conf, by_kind = np.zeros((5, 5), int), {}
    for q, truth, predicted in zero_shot_trials(3000, len(clips), instances, rng, similarity):
        conf[truth, predicted] += 1
        hit = by_kind.setdefault(kinds[q], [0, 0])
        hit[0] += predicted == truth
        hit[1] += 1
    print(f"{folder}:\n  classifier:         {accuracy_row(direct)}\n  zero-shot protocol: {accuracy_row(conf)}\n"
          "  zero-shot by query kind: " + ", ".join(f"{k} {c / n:.2f} ({n})" for k, (c, n) in sorted(by_kind.items())),
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, nargs="+", required=True, help="training content folders (music, speech, synth)")
    ap.add_argument("--test", type=Path, nargs="+", required=True, help="held-out content folders")
    ap.add_argument("--objective", choices=["styles", "supcon"], default="styles")
    ap.add_argument("--compressor", action="store_true",
                    help="also apply the styles' compressors (objective styles, and the evaluation)")
    ap.add_argument("--cnn", action="store_true",
                    help="the shipped encoder's CNN beside the band statistics (a larger network; slower)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--instances", type=int, default=4, help="random style instances per test clip and style")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save", type=Path, help="write RUN/checkpoint.pt (train.py's format) for export.py")
    a = ap.parse_args()
    if a.steps < 1 or a.batch < 8:
        ap.error("--steps must be >= 1 and --batch >= 8")
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    settings = json.loads((ROOT / "models" / "encoder.json").read_text())["frontend"]
    fe = LogMel(settings)
    freqs = fe.bin_freqs().numpy()
    floor_db = 10 * math.log10(fe.floor)
    pools = [ContentPool(d) for d in a.train]
    enc = StyleEncoder(settings["n_mels"], DIM, stats_width=256, cnn=a.cnn)
    head = nn.Linear(2 * DIM, 5)
    opt = torch.optim.Adam(list(enc.parameters()) + list(head.parameters()), lr=1e-3)
    rng, gen = random.Random(a.seed), torch.Generator().manual_seed(a.seed)
    per_pool = a.batch // len(pools)
    t0 = time.time()
    for step in range(a.steps):
        x = torch.cat([p.draw(per_pool, 3 * SR, gen) for p in pools])
        x = x[torch.randperm(x.shape[0], generator=gen)]
        with torch.no_grad():
            if a.objective == "styles":
                labels = [rng.randrange(5) for _ in range(x.shape[0])]
                m = styled_mels(fe, x, labels, rng, freqs, floor_db, rms_db(x) if a.compressor else None)
            else:
                groups = x.shape[0] // 4
                x, labels = x[:groups * 4], [k // 4 for k in range(groups * 4)]
                curves = random_eq_db(torch.from_numpy(freqs), groups, gen).repeat_interleave(4, dim=0)
                m = match_level(fe(x, eq_db=curves), fe(x), floor_db)
        enc.train()
        mid, side = enc(m)
        e = torch.cat([mid, side], 1)
        target = torch.tensor(labels)
        loss = (nn.functional.cross_entropy(head(e), target) if a.objective == "styles"
                else supcon_loss(e / math.sqrt(2), target, 0.1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == a.steps - 1:
            print(f"step {step} loss {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
    enc.eval()
    if a.objective == "supcon":  # the classifier head was never trained: fit it on frozen embeddings
        for _ in range(100):
            x = torch.cat([p.draw(per_pool, 3 * SR, gen) for p in pools])
            labels = [rng.randrange(5) for _ in range(x.shape[0])]
            with torch.no_grad():
                mid, side = enc(styled_mels(fe, x, labels, rng, freqs, floor_db, rms_db(x) if a.compressor else None))
            loss = nn.functional.cross_entropy(head(torch.cat([mid, side], 1)), torch.tensor(labels))
            opt.zero_grad()
            loss.backward()
            opt.step()
    if a.save:
        a.save.mkdir(parents=True, exist_ok=True)
        atomic_save({"encoder": enc.state_dict(), "epoch": 0, "settings": settings, "dim": DIM, "lifter": 0,
                     "stats_width": 256, "cnn": a.cnn, "effects": [f"style_ceiling:{a.objective}"], "n_presets": 5},
                    a.save / "checkpoint.pt")
    for folder in a.test:
        evaluate(enc, head, fe, folder, a.instances, a.seed + 1, a.compressor)


if __name__ == "__main__":
    main()
