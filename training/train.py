"""Train the style encoder on the pretext task (ST-ITO): which effect, which preset.

Usage: python training/train.py --data DATASET_DIR --out RUN_DIR [--epochs 30] [--batch 32]

Two losses. ST-ITO's pretext: heads on (e(x), e(f(x))) predict the effect and the preset
(cross-entropy on both). And, because the encoder is used as a similarity between two *different*
recordings (a live segment and a reference), a supervised contrastive loss (SupCon, Khosla et al.
2020) on single embeddings: excerpts of different content through the same effect and preset are
pulled together, other presets pushed apart; the dry excerpts form one more class, "no effect".
Batches are class-balanced (`--classes-per-batch` classes x batch/classes excerpts each) so that
every excerpt has positives from other content. With `--eq-pairs 1` (default) each batch adds
positives of another kind: its dry excerpts in random pairs, each pair through one random static
EQ (applied to the power spectrum in the front end) and, with probability `--comp-pairs` (default
0, off), one random compressor after it (applied to the frames' gain), which teaches "same
production style, other content". `--supcon 0 --classes-per-batch 0 --eq-pairs 0` is the pretext alone.

Writes RUN_DIR/checkpoint.pt after every epoch (atomically: temporary file, then rename) and
resumes from it when present; RUN_DIR/log.jsonl has one line of figures per epoch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

from data import ContentPool, PairData
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


class BalancedBatches(Sampler):
    """Batches of `classes` preset classes x `batch // classes` excerpts each, drawn without
    replacement within an epoch; every index appears at most once per epoch."""

    def __init__(self, labels: list[int], batch: int, classes: int, generator: torch.Generator):
        self.by_class: dict[int, list[int]] = {}
        for i, c in enumerate(labels):
            self.by_class.setdefault(c, []).append(i)
        self.per_class = max(2, batch // classes)
        self.classes = classes
        self.gen = generator
        self.n_batches = len(labels) // (self.per_class * classes)

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self):
        # Cut every class into shuffled chunks of per_class excerpts; each batch takes one chunk from
        # each of `classes` distinct classes, drawn in proportion to the chunks they have left.
        chunks: list[list[list[int]]] = []
        for idx in self.by_class.values():
            perm = [idx[int(j)] for j in torch.randperm(len(idx), generator=self.gen)]
            chunks.append([perm[k:k + self.per_class] for k in range(0, len(perm) - self.per_class + 1, self.per_class)])
        for _ in range(self.n_batches):
            left = torch.tensor([len(c) for c in chunks], dtype=torch.float)
            if int((left > 0).sum()) < self.classes:
                return
            picked = torch.multinomial(left, self.classes, replacement=False, generator=self.gen)
            yield [i for c in picked.tolist() for i in chunks[c].pop()]


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, L_out) of unit vectors z (N, D)."""
    sim = z @ z.t() / temperature
    n = z.shape[0]
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~self_mask
    n_pos = pos.sum(1)
    has = n_pos > 0
    if not bool(has.any()):
        return z.sum() * 0.0
    mean_log_prob_pos = log_prob.masked_fill(~pos, 0.0).sum(1)[has] / n_pos[has]
    return -mean_log_prob_pos.mean()


def random_eq_db(freqs: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """`n` random static EQ curves (dB per frequency in `freqs`): a low shelf and a high shelf
    (each on with probability 0.7, ±24 dB, corners 40–800 Hz and 1–12 kHz, slopes 1.5–4 per
    octave) and 0–3 peaks (±18 dB, 80 Hz–12 kHz, 0.2–1.5 octaves wide)."""
    def u(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(*shape, generator=generator)

    def log_u(lo, hi, *shape):
        return torch.exp(u(math.log(lo), math.log(hi), *shape))

    lf = torch.log2(freqs.clamp_min(1.0))[None, :]  # (1, bins)
    curve = torch.zeros(n, freqs.shape[0])
    for corner, sign in (((40.0, 800.0), -1.0), ((1000.0, 12000.0), 1.0)):
        on = (torch.rand(n, 1, generator=generator) < 0.7).float()
        gain, fc, slope = u(-24, 24, n, 1), log_u(*corner, n, 1), u(1.5, 4.0, n, 1)
        curve += on * gain * torch.sigmoid(sign * slope * (lf - torch.log2(fc)))
    peaks = torch.randint(0, 4, (n, 1), generator=generator)
    for k in range(3):
        on = (peaks > k).float()
        gain, fc, width = u(-18, 18, n, 1), log_u(80.0, 12000.0, n, 1), u(0.2, 1.5, n, 1)
        curve += on * gain * torch.exp(-0.5 * ((lf - torch.log2(fc)) / width) ** 2)
    return curve


def random_comp(n: int, p_on: float, generator: torch.Generator | None = None) -> dict:
    """`n` random compressors for `LogMel.forward(comp=...)`: on with probability `p_on` (ratio
    1.5–8, else 1 = off), threshold 0–25 dB below the excerpt's mean level, attack 1–60 ms,
    release 20–400 ms (log-uniform)."""
    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    def log_u(lo, hi):
        return torch.exp(u(math.log(lo), math.log(hi)))

    on = (torch.rand(n, generator=generator) < p_on).float()
    return {"depth_db": u(0.0, 25.0), "ratio": 1.0 + on * (u(1.5, 8.0) - 1.0),
            "attack_s": log_u(0.001, 0.06), "release_s": log_u(0.02, 0.4)}


def match_level(mels: torch.Tensor, reference: torch.Tensor, floor_db: float) -> torch.Tensor:
    """`mels` (B, 2, frames, bands) dB shifted by one gain per item so that its total power equals
    `reference`'s: the EQ then changes the spectrum's shape, not the level, as in evaluation where
    every clip is normalised. Cells at the floor (digital silence, e.g. a mono file's side) stay."""
    def total_db(m):
        return 10.0 * torch.log10((10.0 ** (m / 10.0)).sum(dim=(1, 2, 3)).clamp_min(1e-30))
    shift = (total_db(reference) - total_db(mels))[:, None, None, None]
    silent = mels <= floor_db + 1e-3
    return torch.where(silent, mels, (mels + shift).clamp_min(floor_db))


def run_epoch(enc, heads, frontend, loader, opt=None, crop: int = 0, supcon: float = 0.0,
              temperature: float = 0.1, dry_class: int = -1, eq_pairs: bool = False,
              comp_pairs: float = 0.0, eq_grid: int = 0, keep_level: bool = False,
              warp_max: float = 1.0, eq_pool: ContentPool | None = None, eq_count: int = 0,
              eq_per: int = 2, pool_gen: torch.Generator | None = None) -> dict:
    train = opt is not None
    enc.train(train)
    heads.train(train)
    ce = nn.CrossEntropyLoss()
    tot = {"loss": 0.0, "effect_acc": 0.0, "preset_acc": 0.0, "supcon": 0.0, "n": 0}
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
            # Contrastive term on single embeddings (the style embedding, mid ++ side, unit length).
            labels = torch.cat([torch.full_like(preset, dry_class), preset])
            emb_all = emb
            if eq_pairs and supcon > 0 and b >= 2:
                # Extra positives: the dry excerpts in random pairs (different content), each pair
                # through one random EQ of its own, and (with probability `comp_pairs`) one
                # random compressor after it: a production style, as BENCHMARK.md's are.
                if eq_grid > 0:
                    # A grid: `eq_grid` random styles, each applied to the same b // eq_grid dry
                    # excerpts. Same style on other content is a positive; the same excerpt
                    # under another style is a negative, which teaches the embedding to ignore
                    # what the content sounds like and keep what was done to it.
                    groups, per = eq_grid, max(2, b // eq_grid)
                elif eq_pool is not None:
                    # Fresh excerpts from the content pool: `eq_count` of them, `eq_per` per EQ.
                    groups, per = max(1, (eq_count or b) // eq_per), eq_per
                else:
                    groups, per = b // 2, 2
                curves = random_eq_db(frontend.bin_freqs(), groups).to(x.device)
                comp = {k: v.repeat_interleave(per).to(x.device) for k, v in random_comp(groups, comp_pairs).items()}
                if eq_pool is not None:
                    src = eq_pool.draw(per if eq_grid > 0 else groups * per, x.shape[-1], pool_gen).to(x.device)
                    src = src.repeat(groups, 1, 1) if eq_grid > 0 else src
                elif eq_grid > 0:
                    src = x[torch.randperm(b)[:per].repeat(groups).to(x.device)]
                else:
                    src = x[torch.randperm(b)[: 2 * groups].to(x.device)]
                warp = None
                if eq_grid > 0 and warp_max > 1.0:
                    # One frequency warp per excerpt, the same under every style: new content.
                    w = torch.exp((2 * torch.rand(per) - 1) * math.log(warp_max))
                    warp = w.repeat(groups).to(x.device)
                with torch.no_grad():
                    aug_mels = frontend(src, eq_db=curves.repeat_interleave(per, dim=0),
                                        comp=comp if comp_pairs > 0 else None, warp=warp)
                    if keep_level:
                        dry = frontend(src, warp=warp)
                        aug_mels = match_level(aug_mels, dry, 10.0 * math.log10(frontend.floor))
                am, asd = enc(aug_mels)
                emb_all = torch.cat([emb, torch.cat([am, asd], dim=1)])
                pair_labels = dry_class + 1 + torch.arange(groups, device=x.device).repeat_interleave(per)
                labels = torch.cat([labels, pair_labels])
            sc = supcon_loss(emb_all / 2 ** 0.5, labels, temperature)
            if supcon > 0:
                loss = loss + supcon * sc
            if train:
                opt.zero_grad()
                loss.backward()
                opt.step()
            tot["loss"] += loss.item() * b
            tot["effect_acc"] += (le.argmax(1) == effect).sum().item()
            tot["preset_acc"] += (lp.argmax(1) == preset).sum().item()
            tot["supcon"] += sc.item() * b
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
    ap.add_argument("--supcon", type=float, default=1.0, help="weight of the supervised contrastive loss (0: off)")
    ap.add_argument("--temperature", type=float, default=0.1, help="SupCon temperature")
    ap.add_argument("--eq-pairs", type=int, default=1,
                    help="1: add SupCon positives made of two excerpts through one random EQ (0: off)")
    # Off by default: the shipped model was trained without it. With 0.7 (session 5) held-out
    # zero-shot speech BC rose 0.53 -> 0.70 but music fell 0.57 -> 0.54 (docs/experiments.md).
    ap.add_argument("--comp-pairs", type=float, default=0.0,
                    help="probability that an EQ pair also goes through one random compressor (0: EQ only)")
    ap.add_argument("--eq-grid", type=int, default=0,
                    help="N > 0: the EQ positives form a grid of N random styles x the same batch/N excerpts "
                         "(same excerpt, other style: a hard negative); 0: N = batch/2 pairs of distinct excerpts")
    ap.add_argument("--keep-level", type=int, default=0,
                    help="1: the EQ positives keep their dry excerpt's total level (the EQ changes shape, not loudness)")
    ap.add_argument("--warp", type=float, default=1.0,
                    help="with --eq-grid: move each grid excerpt's spectrum by a random factor in [1/W, W] "
                         "(log-uniform), the same under every style (1: off)")
    ap.add_argument("--eq-content", type=Path, default=None,
                    help="draw the EQ positives' dry excerpts from this content folder (make_content.py output), "
                         "fresh every batch, instead of from the batch's own pairs: far more content than the pairs hold")
    ap.add_argument("--eq-count", type=int, default=0, help="with --eq-content: excerpts per batch (0: the batch size)")
    ap.add_argument("--eq-per", type=int, default=2, help="with --eq-content: excerpts through each random EQ (positives of one another)")
    ap.add_argument("--stats-width", type=int, default=0,
                    help="N > 0: add the band-statistics branch (per-band long-term spectrum, level mean and spread; "
                         "model.band_statistics) with N hidden units")
    ap.add_argument("--cnn", type=int, default=1, help="0: no CNN branch, the band statistics alone (needs --stats-width)")
    ap.add_argument("--lifter", type=int, default=0,
                    help="K > 0: the encoder sees each frame's log-mel smoothed to its first K DCT coefficients")
    ap.add_argument("--n-mels", type=int, default=0,
                    help="mel bands of the front end (0: the dataset's frontend.json); fewer bands see the spectral "
                         "envelope that EQ shapes and less of the notes played")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this checkpoint's encoder and heads (fresh optimiser and schedule): fine-tuning")
    ap.add_argument("--classes-per-batch", type=int, default=8,
                    help="class-balanced batches of this many preset classes (0: plain shuffled batches)")
    ap.add_argument("--crop", type=float, default=0.0,
                    help="train on random aligned crops of this many seconds (0: whole excerpts); validation uses whole excerpts")
    a = ap.parse_args()
    if a.eq_content is not None and not (a.eq_pairs and a.supcon > 0):
        ap.error("--eq-content feeds the EQ positives of the contrastive loss: it needs --eq-pairs 1 and --supcon > 0")
    if a.eq_per < 2:
        ap.error("--eq-per must be at least 2: the excerpts through one EQ are each other's positives")
    if a.eq_grid and (a.eq_count or a.eq_per != 2):
        ap.error("--eq-count and --eq-per do not apply with --eq-grid (the grid takes batch/N excerpts under N EQs)")
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a.out.mkdir(parents=True, exist_ok=True)

    settings = load_settings(a.data / "frontend.json")
    if a.n_mels:
        settings["n_mels"] = a.n_mels
    train_set, val_set = PairData(a.data, "train"), PairData(a.data, "val")
    n_eff, n_pre = len(train_set.effects), train_set.n_presets
    frontend = LogMel(settings).to(device)
    enc = StyleEncoder(settings["n_mels"], a.dim, lifter=a.lifter, stats_width=a.stats_width, cnn=bool(a.cnn)).to(device)
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
    elif a.init is not None:
        ck = torch.load(a.init, map_location=device, weights_only=False)
        enc.load_state_dict(ck["encoder"])
        heads.load_state_dict(ck["heads"])
        print(f"starting from {a.init} (trained {ck['epoch']} epochs)")
    gen = torch.Generator().manual_seed(a.seed)
    if a.classes_per_batch:
        sampler = BalancedBatches([it[3] for it in train_set.items], a.batch, a.classes_per_batch, gen)
        train_loader = DataLoader(train_set, batch_sampler=sampler, num_workers=a.workers)
    else:
        train_loader = DataLoader(train_set, batch_size=a.batch, shuffle=True, generator=gen,
                                  num_workers=a.workers, drop_last=len(train_set) > a.batch)
    val_loader = DataLoader(val_set, batch_size=a.batch, num_workers=a.workers)
    eq_pool = ContentPool(a.eq_content) if a.eq_content else None
    if eq_pool is not None:
        print(f"EQ positives from {a.eq_content}: {len(eq_pool.clips)} clips, {eq_pool.seconds() / 60:.1f} min")
    pool_gen = torch.Generator()
    print(f"{len(train_set)} train / {len(val_set)} val pairs, {n_eff} effects x {n_pre} presets, "
          f"{sum(p.numel() for p in enc.parameters())} encoder parameters, device {device}")

    def to_dev(loader):
        for x, y, e, p in loader:
            yield x.to(device), y.to(device), e.to(device), p.to(device)

    for epoch in range(start, a.epochs):
        t0 = time.time()
        pool_gen.manual_seed(a.seed * 1_000 + epoch + 1)  # per epoch, so a resumed run draws as an unbroken one
        loss_args = {"supcon": a.supcon, "temperature": a.temperature, "dry_class": n_eff * n_pre}
        tr = run_epoch(enc, heads, frontend, to_dev(train_loader), opt, crop=round(a.crop * 48_000),
                       eq_pairs=bool(a.eq_pairs), comp_pairs=a.comp_pairs, eq_grid=a.eq_grid,
                       keep_level=bool(a.keep_level), warp_max=a.warp, eq_pool=eq_pool,
                       eq_count=a.eq_count, eq_per=a.eq_per, pool_gen=pool_gen, **loss_args)
        va = run_epoch(enc, heads, frontend, to_dev(val_loader), **loss_args) if len(val_set) else {}
        sched.step()
        row = {"epoch": epoch + 1, "seconds": round(time.time() - t0, 1),
               **{f"train_{k}": round(v, 4) for k, v in tr.items()}, **{f"val_{k}": round(v, 4) for k, v in va.items()}}
        print(json.dumps(row), flush=True)
        with open(a.out / "log.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        atomic_save({"encoder": enc.state_dict(), "heads": heads.state_dict(), "opt": opt.state_dict(),
                     "sched": sched.state_dict(), "rng": torch.get_rng_state(), "epoch": epoch + 1,
                     "settings": settings, "dim": a.dim, "lifter": a.lifter,
                     "stats_width": a.stats_width, "cnn": bool(a.cnn), "effects": train_set.effects, "n_presets": n_pre}, ckpt_path)


if __name__ == "__main__":
    main()
