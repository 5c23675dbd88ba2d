"""Where the zero-shot style classification fails: a proxy of `fxmatch eval zero-shot` on
held-out music, broken down by the kind of the query clip (band, drums, chords, solo, bass) and
by mono vs stereo, for a training checkpoint.

Usage: python training/diagnose_zero_shot.py CKPT --music DIR [--trials 3000] [--instances 6]

A proxy, not the benchmark: only the styles' EQ (the RBJ cookbook biquads of
`src/eval/styles.rs`, Q 0.707, applied to the power spectrum in the front end; the compressor is
left out), then every clip's level is matched to its dry excerpt, as the evaluation's -20 dBFS
normalisation does. Embeddings are computed once per (clip, style, instance) and the trials
sample from that bank. It prints accuracy per style and per query kind for three similarities
(mid and side averaged as fxmatch does, mid alone, side only where both clips are stereo) and
the mean cosine of same style/other content against same content/other style: a metric that
ignores content has the first larger. `--per-clip` prints those two cosines per clip, with its
kind and GM programs; `--ltas` scores a hand-made feature (the centred long-term spectrum)
instead of the encoder, as a yardstick. The kinds are recomputed from `make_content.py`'s seeds,
so DIR must be made by `make_content.py --held-out` with `--seed` as given here; with
`--training-content`, DIR is training content instead (made without `--held-out`), which tells
a model that does not fit its own training music from one that does not generalise.
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import make_content as MC
from data import read_pcm16
from frontend import LogMel
from model import encoder_from_checkpoint
from train import match_level

SR = 48_000
STYLES = ["NT", "BC", "TL", "BR", "WM"]


def piece_of(i: int, seed: int, held_out: bool):
    """The piece `make_content.py` (with or without `--held-out`) made for music clip i: its kind
    and its programs (the MIDI only, nothing is rendered)."""
    MC.HELD_OUT_MODE = held_out
    return MC.music_piece((seed + (MC.HELD_OUT_SEED_OFFSET if held_out else 0)) * 100_003 + i)


def biquad_db(shape: str, f0: float, gain: float, q: float, f: np.ndarray) -> np.ndarray:
    """Magnitude response (dB) of an RBJ cookbook peaking / low-shelf / high-shelf biquad."""
    a_ = 10 ** (gain / 40)
    w0 = 2 * math.pi * f0 / SR
    al, c = math.sin(w0) / (2 * q), math.cos(w0)
    s = 2 * math.sqrt(a_) * al
    if shape == "peak":
        b, a = [1 + al * a_, -2 * c, 1 - al * a_], [1 + al / a_, -2 * c, 1 - al / a_]
    elif shape == "low":
        b = [a_ * ((a_ + 1) - (a_ - 1) * c + s), 2 * a_ * ((a_ - 1) - (a_ + 1) * c), a_ * ((a_ + 1) - (a_ - 1) * c - s)]
        a = [(a_ + 1) + (a_ - 1) * c + s, -2 * ((a_ - 1) + (a_ + 1) * c), (a_ + 1) + (a_ - 1) * c - s]
    else:
        b = [a_ * ((a_ + 1) + (a_ - 1) * c + s), -2 * a_ * ((a_ - 1) + (a_ + 1) * c), a_ * ((a_ + 1) + (a_ - 1) * c - s)]
        a = [(a_ + 1) - (a_ - 1) * c + s, 2 * ((a_ - 1) - (a_ + 1) * c), (a_ + 1) - (a_ - 1) * c - s]
    z = np.exp(-1j * 2 * np.pi * f / SR)
    h = (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return 20 * np.log10(np.abs(h) + 1e-12)


def style_eq(style: str, rng: random.Random) -> tuple[float, ...]:
    """(low gain, low Hz, 1 kHz band gain, its Hz, high gain, high Hz) as in src/eval/styles.rs."""
    u = rng.random
    return {
        "NT": lambda: (2 * u() + 1, 120 * u() + 80, 0, 1000, 2 * u() + 1, 2000 * u() + 6000),
        "BC": lambda: (4 * u() + 2, 120 * u() + 80, 0, 1000, 4 * u() + 2, 2000 * u() + 6000),
        "TL": lambda: (-(6 * u() + 20), 200 * u() + 200, 4 * u() + 12, 1000 * u() + 1000, -(6 * u() + 20), 2000 * u() + 4000),
        "BR": lambda: (-(6 * u() + 20), 200 * u() + 200, 0, 1000, 6 * u() + 20, 8000 * u() + 2000),
        "WM": lambda: (6 * u() + 20, 200 * u() + 200, 0, 1000, -(6 * u() + 20), 2000 * u() + 8000),
    }[style]()


def style_curve_db(style: str, rng: random.Random, freqs: np.ndarray) -> np.ndarray:
    """One random instance of `style`'s EQ: its magnitude response in dB at `freqs`."""
    lg, lf, mg, mf, hg, hf = style_eq(style, rng)
    return (biquad_db("low", lf, lg, .707, freqs) + biquad_db("peak", mf, mg, .707, freqs)
            + biquad_db("high", hf, hg, .707, freqs))


def style_compressor(style: str, rng: random.Random) -> tuple[float, float, float, float]:
    """(threshold dBFS, ratio, attack ms, release ms) as in src/eval/styles.rs; ratio 1 = off."""
    u = rng.random
    make = {
        "NT": lambda: (-(10 * u() + 20), 0.5 * u() + 1.5, 20 * u() + 50, 200 * u() + 100),
        "BC": lambda: (-(10 * u() + 40), 2 * u() + 3, 25 * u() + 5, 100 * u() + 50),
        "TL": lambda: (-(20 * u() + 20), 1.5 * u() + 1.5, 5 * u() + 1, 50 * u() + 10),
    }.get(style)
    return make() if make else (0.0, 1.0, 10.0, 100.0)


def zero_shot_trials(trials: int, n_clips: int, instances: int, rng: random.Random,
                     similarity: Callable[[int, int, int, int, int, int], float]):
    """The protocol of `fxmatch eval zero-shot` on a bank of `instances` embeddings per (clip,
    style): per trial one query (styles in turn) and, per style, one prototype from another clip;
    the prediction is the most similar prototype. `similarity(q, truth, qi, p, k, pi)` scores
    the query (clip q, style truth, instance qi) against a prototype (clip p, style k, instance
    pi). Yields (query clip, true style, predicted style)."""
    for t in range(trials):
        truth, q = t % 5, rng.randrange(n_clips)
        qi = rng.randrange(instances)
        best = (-9.0, 0)
        for k in range(5):
            p = rng.randrange(n_clips - 1)
            p += p >= q
            v = similarity(q, truth, qi, p, k, rng.randrange(instances))
            if v > best[0]:
                best = (v, k)
        yield q, truth, best[1]


def accuracy_row(conf: np.ndarray) -> str:
    """Per-style and average accuracy of a (true, predicted) confusion matrix."""
    return (" ".join(f"{s} {conf[i, i] / conf[i].sum():.2f}" for i, s in enumerate(STYLES))
            + f", average {np.trace(conf) / conf.sum():.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--music", type=Path, required=True, help="held-out music (make_content.py --held-out OUT: OUT/music)")
    ap.add_argument("--trials", type=int, default=3000)
    ap.add_argument("--instances", type=int, default=6, help="random instances per (clip, style) in the bank")
    ap.add_argument("--seed", type=int, default=0, help="make_content.py's --seed for DIR")
    ap.add_argument("--per-clip", action="store_true",
                    help="also print, per clip, its kind, programs and the two mean mid cosines")
    ap.add_argument("--ltas", action="store_true",
                    help="score a hand-made feature instead of the checkpoint's encoder: each channel's "
                         "long-term average log-mel, centred on the mean over all the clips and styles")
    ap.add_argument("--training-content", action="store_true",
                    help="DIR is training content (made without --held-out): tells fitting from generalising")
    a = ap.parse_args()

    ck = torch.load(a.checkpoint, map_location="cpu", weights_only=False)
    fe = LogMel(ck["settings"])
    enc = encoder_from_checkpoint(ck)
    files = [p for p in sorted(a.music.glob("music_*.wav")) if p.stat().st_size > 44]  # skip empty renders
    clips = [read_pcm16(p, SR).astype(np.float32) / 32768 for p in files]
    pieces = [piece_of(int(p.stem.split("_")[1]), a.seed, not a.training_content) for p in files]
    kinds = [pc.kind for pc in pieces]
    mono = [c.shape[0] == 1 or float(np.abs(c[0] - c[1]).max()) < 1e-4 for c in clips]
    print({k: kinds.count(k) for k in sorted(set(kinds))}, f"mono {sum(mono)} of {len(clips)}")

    freqs = fe.bin_freqs().numpy()
    floor_db = 10 * math.log10(fe.floor)
    rng = random.Random(0)
    r_n = a.instances
    bank = torch.zeros(2, len(clips), 5, r_n, ck["settings"]["n_mels"] if a.ltas else ck["dim"])
    with torch.no_grad():
        for ci, c in enumerate(clips):
            c = np.repeat(c, 2, axis=0) if c.shape[0] == 1 else c
            for k, style in enumerate(STYLES):
                xs, curves = [], []
                for _ in range(r_n):
                    st = rng.randrange(0, max(1, c.shape[1] - 3 * SR))
                    x = c[:, st:st + 3 * SR]
                    xs.append(x / max(1e-9, float(np.sqrt((x ** 2).mean()))) * 0.1)
                    curves.append(style_curve_db(style, rng, freqs))
                x = torch.tensor(np.stack(xs))
                m = fe(x, eq_db=torch.tensor(np.stack(curves), dtype=torch.float32))
                m = match_level(m, fe(x), floor_db)
                if a.ltas:  # power mean over time, in dB
                    mid, side = (10.0 * torch.log10((10.0 ** (m[:, ch] / 10.0)).mean(1)) for ch in (0, 1))
                else:
                    mid, side = enc(m)
                bank[0, ci, k], bank[1, ci, k] = mid, side
    if a.ltas:
        bank = bank - bank.mean(dim=(1, 2, 3), keepdim=True)
        bank = bank / bank.norm(dim=-1, keepdim=True).clamp_min(1e-9)

    def run(mode: str) -> None:
        def similarity(q: int, truth: int, qi: int, p: int, k: int, pi: int) -> float:
            sm = float(bank[0, q, truth, qi] @ bank[0, p, k, pi])
            ss = float(bank[1, q, truth, qi] @ bank[1, p, k, pi])
            return {"mid+side": 0.5 * (sm + ss), "mid": sm}.get(mode, sm if mono[q] or mono[p] else 0.5 * (sm + ss))

        conf = np.zeros((5, 5), int)
        by: dict[str, list[int]] = {}
        for q, truth, predicted in zero_shot_trials(a.trials, len(clips), r_n, random.Random(1), similarity):
            conf[truth, predicted] += 1
            for key in (kinds[q], "mono" if mono[q] else "stereo"):
                by.setdefault(key, [0, 0])
                by[key][0] += predicted == truth
                by[key][1] += 1
        print(f"{mode:>14}: {accuracy_row(conf)}")
        print(" " * 16 + "by query: " + ", ".join(f"{k} {c / n:.2f} ({n})" for k, (c, n) in sorted(by.items())))

    for mode in ("mid+side", "mid", "side if stereo"):
        run(mode)
    sim = torch.einsum("aksd,bltd->abkslt", bank[0], bank[0])  # (clip, clip, style, inst, style, inst)
    # Per clip: mean mid cosine to itself under the other styles, and to the other clips under the
    # same style. Every clip has as many of each, so the mean over clips is the mean over pairs.
    same_content = [np.mean([sim[c, c, s1, :, s2, :].mean().item() for s1 in range(5) for s2 in range(5) if s1 != s2])
                    for c in range(len(clips))]
    same_style = [np.mean([sim[c, c2, s, :, s, :].mean().item() for s in range(5) for c2 in range(len(clips)) if c2 != c])
                  for c in range(len(clips))]
    for name, want_mono in (("mono", True), ("stereo", False)):
        sel = [i for i in range(len(clips)) if mono[i] == want_mono]
        print(f"{name} queries, mid cosine: same style/other content {np.mean([same_style[i] for i in sel]):.3f}, "
              f"same content/other style {np.mean([same_content[i] for i in sel]):.3f}")
    if a.per_clip:
        for c, (path, piece) in enumerate(zip(files, pieces)):
            programs = sorted(p for bank_, p in MC.presets_needed(piece) if bank_ == 0)
            print(f"{path.stem} {piece.kind:7s} {'mono' if mono[c] else 'stereo':6s} programs {programs}: "
                  f"same content/other style {same_content[c]:.2f}, "
                  f"same style/other content ({len(clips) - 1} clips) {same_style[c]:.2f}")


if __name__ == "__main__":
    main()
