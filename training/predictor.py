"""The one-pass parameter predictor of the second seed (Grant, AES 2023), trained for one chain.

Usage:
  fxmatch predictor dataset CONTENT DATA_DIR --chain CHAIN [--n 4000]     # the examples (Rust)
  fxmatch predictor project CONTENT PROJ_DIR --chain CHAIN [--n 1000]    # sox (or --processor lv2file) references, fitted targets
  python training/predictor.py train --data DATA_DIR [--also PROJ_DIR*K] --out RUN_DIR [--epochs 150] [--presence]
  python training/predictor.py spsa --data DATA_DIR [--also PROJ_DIR] --content CONTENT --chain CHAIN --init RUN_DIR --out RUN2
  python training/predictor.py calibrate --run RUN2 --data PROJ_DIR [--data DATA_DIR] --content CONTENT --chain CHAIN --out RUN3 [--presence-margins 0.5 0.6 0.7 0.8 0.9]
  python training/predictor.py ensemble --runs RUN_DIR RUN_DIR2 ... --out RUN4
  python training/predictor.py export --run RUN_DIR --out MODEL_DIR --name NAME

The network is the seed's controller: an MLP on [z_x, z_ref] (here the VAE's mid and side latent
means of the input and of the reference, 4 x 128 values, followed, in datasets made with them, by
the style statistics of the input and of the reference, src/predict/features.rs, then by the style
encoder's embeddings of both, `fxmatch predictor dataset --encoder`), hidden 128-128-64-32 with
LayerNorm and LeakyReLU, sigmoid outputs scaled into [0.01, 0.99]: one normalised value per free parameter of
the chain. Trained with a parameter loss (L1 to the known settings that rendered each reference,
`fxmatch predictor dataset`: the references are made by fxmatch's own chain). Validation holds
the examples whose input excerpt comes from a content file with id % 10 == 0.

`spsa` then trains through the chain itself, as the seed did: the chain is not differentiable, so
the gradient of the seed's audio loss (multi-resolution STFT + 100 x L1 between the input excerpt
rendered at the predicted setting and the oracle, the same excerpt at the true setting) with
respect to the predicted parameters is estimated by SPSA: one Rademacher vector D per example,
two renders at theta +/- eps*D (eps 0.01), g = (L+ - L-) / (2 eps) * D. The renders and the loss
run in Rust (`fxmatch predictor spsa-serve`, src/predict/spsa.rs); the loss is the audio term plus
`--param-weight` x the parameter L1 (the targets are known here). `--loss fit` swaps the seed's
audio loss for the projection fit's (level-aligned, without the L1 term, which measures phase
more than style); `--loss judge` for the benchmark's own fidelity distance to the oracle over the
input's (one minus `eval transfer`'s transfer gain; projection datasets answer it too).
`--also PROJ_DIR` adds projection datasets: there the oracle is the input
through the example's sox (or LV2) chain, so the network learns from the audio of processors the chain does
not have; their fitted targets weigh `--also-param-weight` (0 by default). The epoch with the
lowest validation audio loss (each dataset's relative to its start, averaged) is kept.

`calibrate` fits one number after training: how far toward the chain's neutral setting to pull
the prediction's amounts (the parameters with a neutral value, `fxmatch chain show --json`: drive,
gains, threshold, ratio, makeup, feedback, mixes), p -> neutral + alpha (p - neutral). The network
learnt from references the chain made; on references made by other processors it reads effects
that are not there and overshoots, and a wrong effect costs more than a missing one. alpha is the
grid value (0.1 steps) with the lowest audio loss on held-out datasets (each `--data`'s loss
relative to alpha = 1, averaged, as `spsa` scores; a projection dataset's oracle is the input
through its random sox or LV2 chain). With `--per-effect`, a coordinate descent then gives each
effect its own alpha (0 leaves the effect out), kept only if it also beats the single alpha on
`--check-examples` other examples of each dataset. The pull is part of the exported network (a
last layer), so the Rust side and the golden parity test see it.

`ensemble` makes one network of several runs trained alike (`train --seed S`): the mean of their
predictions. Runs that differ only in their seed differ on references the chain did not make by
more than their validation errors differ; the mean is steadier. It calibrates and exports as one.

`export` writes MODEL_DIR/NAME.onnx (input `z` (1, 512 + 2 x stats_len + 2 x style_len), output `p` (1, free parameters)),
NAME.json (chain, parameter names, the VAE's sha256, the ONNX sha256, validation figures) and
NAME.golden.json (inputs and outputs for the Rust parity test).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

FORMAT = "fxmatch-predictor/1"
LO, HI = 0.01, 0.99
DEFAULT_HIDDEN = (128, 128, 64, 32)  # the seed's controller
# The groups of `style-stats/1` (src/predict/features.rs), as column ranges of one signal's block.
STATS_GROUPS = {"band_mean": (0, 24), "band_std": (24, 48), "width": (48, 54), "level": (54, 62),
                "lag": (62, 78), "slope": (78, 81), "shape": (81, 85)}


class Predictor(nn.Module):
    def __init__(self, n_in: int, n_out: int, hidden: tuple[int, ...] = DEFAULT_HIDDEN):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LayerNorm(h), nn.LeakyReLU(0.2)]
            width = h
        layers.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return LO + (HI - LO) * torch.sigmoid(self.net(z))


class Presence(nn.Module):
    """The seed's MLP with one more output per effect: is the effect there? (`train --presence`)

    Trained on the parameter loss alone, a network unsure whether an effect is in the reference
    answers with the L1 median of a mixture that is half "off" (the examples switch each effect
    on with probability 0.5), which is "off": it turns heavy compression off. Here presence is a
    logit per effect (cross-entropy) and the amounts are learnt only where the effect is on; the
    output is the amounts where the logit says on, else the effect's off setting, so the exported
    graph still maps z to one value per parameter."""

    def __init__(self, n_in: int, n_out: int, hidden: tuple[int, ...], groups: list[int], off: list[float],
                 margin: float = 0.0):
        super().__init__()
        self.n_out = n_out
        self.inner = Predictor(n_in, n_out + max(groups) + 1, hidden)
        self.register_buffer("groups", torch.tensor(groups, dtype=torch.long))
        self.register_buffer("off", torch.tensor(off, dtype=torch.float32))
        # The logit an effect's presence must pass (0: probability 0.5; `calibrate
        # --presence-margins` raises it). Kept in the checkpoint's `presence`, not the weights.
        self.register_buffer("margin", torch.tensor(float(margin)), persistent=False)

    def parts(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The amounts (in [LO, HI]) and the per-effect presence logits."""
        raw = self.inner.net(z)
        return LO + (HI - LO) * torch.sigmoid(raw[:, :self.n_out]), raw[:, self.n_out:]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        amounts, logits = self.parts(z)
        on = (logits > self.margin).index_select(1, self.groups)
        return torch.where(on, amounts, self.off.expand_as(amounts))


def presence_layout(params: list[str], targets: np.ndarray) -> tuple[list[int], list[float], np.ndarray]:
    """Per parameter its effect's index (the name before the dot), per parameter its off value (the
    commonest target: an effect is off in about half the examples, at the match's neutral start),
    and per example and effect whether it is on (any of its parameters away from its off value)."""
    effects: list[str] = []
    for name in params:
        if name.split(".")[0] not in effects:
            effects.append(name.split(".")[0])
    groups = [effects.index(name.split(".")[0]) for name in params]
    off = []
    for j in range(targets.shape[1]):
        values, counts = np.unique(np.round(targets[:, j], 5), return_counts=True)
        off.append(float(values[counts.argmax()]))
    away = np.abs(targets - np.array(off)[None, :]) > 1e-4
    on = np.stack([away[:, [j for j, g in enumerate(groups) if g == e]].any(1) for e in range(len(effects))], 1)
    return groups, off, on


def load(data: Path, like: dict | None = None) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """A dataset's meta, inputs, targets and validation mask. With `like` (another dataset's or a
    checkpoint's meta), the style statistics or style-encoder columns that `like` has not are left
    out, so that a dataset made with more features trains or tunes a network that reads fewer."""
    meta = json.loads((data / "predict-dataset.json").read_text())
    n_lat, n_stats, n_style = 4 * meta["dim"], meta.get("stats_len", 0), meta.get("style_len", 0)
    n_in, n_out = n_lat + 2 * n_stats + 2 * n_style, len(meta["params"])
    rows = np.fromfile(data / "examples.f32", dtype="<f4").reshape(meta["n"], n_in + n_out)
    val = np.array([c % 10 == 0 for c in meta["content_input"]])
    blocks = [rows[:, :n_lat]]
    if n_stats and (like is None or like.get("stats_len", 0)):
        blocks.append(rows[:, n_lat:n_lat + 2 * n_stats])
    elif n_stats:
        meta = {**meta, "stats": None, "stats_len": 0}
    if n_style and (like is None or like.get("style_len", 0)):
        blocks.append(rows[:, n_lat + 2 * n_stats:n_in])
    elif n_style:
        meta = {**meta, "encoder_sha256": None, "style_len": 0}
    return meta, np.ascontiguousarray(np.concatenate(blocks, axis=1)), rows[:, n_in:], val


def train(a: argparse.Namespace) -> None:
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    meta, z, p, val = load(a.data)
    extra_val = []  # (name, z, p) of each --also dataset's validation examples
    for spec in a.also:
        path, _, times = spec.partition("*")
        m2, z2, p2, v2 = load(Path(path), meta)
        for key in ("params", "dim", "vae_sha256", "stats_len", "style_len", "encoder_sha256"):
            if m2.get(key) != meta.get(key):
                raise SystemExit(f"{path} differs from {a.data} in {key}: they cannot train one network")
        reps = int(times or 1)
        extra_val.append((path, z2[v2], p2[v2]))
        z = np.concatenate([z] + [z2] * reps)
        p = np.concatenate([p] + [p2] * reps)
        val = np.concatenate([val] + [v2] * reps)
        meta["content_input"] = meta["content_input"] + m2["content_input"] * reps
        meta["content_reference"] = meta["content_reference"] + m2["content_reference"] * reps
        meta.setdefault("also", []).append({"data": path, "repeat": reps, "n": m2["n"], "kind": m2.get("kind"),
                                            "config": m2["config"]})
    if a.other_content_only:
        # A live match always compares the player's content with another recording's, where a
        # level or spectrum difference is partly content; same-content pairs teach the network
        # to read every difference as processing.
        keep = np.array([i != r for i, r in zip(meta["content_input"], meta["content_reference"])])
        z, p, val = z[keep], p[keep], val[keep]
    z, p = torch.from_numpy(z), torch.from_numpy(p).clamp(LO, HI)
    keep = stats_mask(meta, a.drop_stats)
    zt, pt, zv, pv = z[~torch.from_numpy(val)], p[~torch.from_numpy(val)], z[torch.from_numpy(val)], p[torch.from_numpy(val)]
    # Latent scale: standardise inputs inside the network (kept in the exported graph).
    mean, std = zt.mean(0), zt.std(0).clamp_min(1e-3)
    hidden = tuple(int(h) for h in a.hidden.split(","))
    presence = None
    if a.presence:
        groups, off, on = presence_layout(meta["params"], p.numpy())
        presence = {"groups": groups, "off": off}
        ont = torch.from_numpy(on[~val].astype(np.float32))
        net = Presence(z.shape[1], p.shape[1], hidden, groups, off)
        on_param = ont.index_select(1, net.groups)
        print(json.dumps({"presence_share_on": [round(float(v), 3) for v in ont.mean(0)]}), flush=True)
    else:
        net = Predictor(z.shape[1], p.shape[1], hidden)
    model = nn.Sequential(Standardise(mean, std), *([Keep(keep)] if keep is not None else []), net)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.epochs)
    a.out.mkdir(parents=True, exist_ok=True)
    log = (a.out / "log.jsonl").open("w")
    best = (float("inf"), None)
    for epoch in range(1, a.epochs + 1):
        model.train()
        perm = torch.randperm(len(zt))
        for i in range(0, len(zt), a.batch):
            idx = perm[i:i + a.batch]
            if presence is None:
                loss = (model(zt[idx]) - pt[idx]).abs().mean()
            else:
                # Amounts only where the effect is on; presence by cross-entropy.
                amounts, logits = net.parts(model[:-1](zt[idx]))
                mask = on_param[idx]
                loss = ((amounts - pt[idx]).abs() * mask).sum() / mask.sum().clamp_min(1.0)
                loss = loss + nn.functional.binary_cross_entropy_with_logits(logits, ont[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            val_mae = float((model(zv) - pv).abs().mean())
            train_mae = float((model(zt) - pt).abs().mean())
        if val_mae < best[0]:
            best = (val_mae, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
        if epoch % 10 == 0 or epoch == a.epochs:
            row = {"epoch": epoch, "train_mae": train_mae, "val_mae": val_mae}
            print(json.dumps(row), flush=True)
            log.write(json.dumps(row) + "\n")
    model.load_state_dict(best[1])
    with torch.no_grad():
        baselines = {
            "val_mae": float((model(zv) - pv).abs().mean()),
            "val_mae_mean_setting": float((pt.mean(0) - pv).abs().mean()),
            "val_mae_middle": float((0.5 - pv).abs().mean()),
            "val_mae_random": float((torch.rand_like(pv) * (HI - LO) + LO - pv).abs().mean()),
            **{f"val_mae[{name}]": float((model(torch.from_numpy(ze)) - torch.from_numpy(pe).clamp(LO, HI)).abs().mean())
               for name, ze, pe in extra_val},
            "best_epoch": best[2],
            "n_train": len(zt),
            "n_val": len(zv),
        }
    print(json.dumps(baselines), flush=True)
    torch.save({"model": model.state_dict(), "n_in": z.shape[1], "n_out": p.shape[1], "hidden": hidden, "meta": meta,
                "keep": keep, "presence": presence,
                "figures": baselines, "args": {k: str(v) for k, v in vars(a).items()}}, a.out / "checkpoint.pt")


def stats_mask(meta: dict, drop: str) -> torch.Tensor | None:
    """1 for each input the network reads, 0 for the statistics groups in `drop` (comma-separated
    names of STATS_GROUPS), for the input's and the reference's block; None when nothing is dropped."""
    names = [g for g in drop.split(",") if g]
    if not names:
        return None
    if not meta.get("stats"):
        raise SystemExit("--drop-stats needs a dataset with style statistics")
    unknown = [g for g in names if g not in STATS_GROUPS]
    if unknown:
        raise SystemExit(f"unknown statistics groups {unknown}; known: {', '.join(STATS_GROUPS)}")
    n_lat, n_stats = 4 * meta["dim"], meta["stats_len"]
    keep = torch.ones(n_lat + 2 * n_stats + 2 * meta.get("style_len", 0))
    for block in range(2):
        for g in names:
            lo, hi = STATS_GROUPS[g]
            keep[n_lat + block * n_stats + lo:n_lat + block * n_stats + hi] = 0.0
    return keep


def build(ck: dict) -> nn.Sequential:
    """The network of a checkpoint, in the layout `train` saved it (and `calibrate` extended it;
    `ensemble` runs several such networks side by side)."""
    n_in, keep, toward = ck["n_in"], ck.get("keep"), ck.get("toward_neutral")

    def member() -> nn.Sequential:
        hidden, presence = tuple(ck.get("hidden", DEFAULT_HIDDEN)), ck.get("presence")
        head = (Presence(n_in, ck["n_out"], hidden, presence["groups"], presence["off"],
                         presence.get("margin", 0.0)) if presence
                else Predictor(n_in, ck["n_out"], hidden))
        return nn.Sequential(Standardise(torch.zeros(n_in), torch.ones(n_in)),
                             *([Keep(keep)] if keep is not None else []), head)

    if ck.get("members"):
        return nn.Sequential(Ensemble([member() for _ in range(ck["members"])]),
                             *([TowardNeutral.of(toward)] if toward else []))
    return nn.Sequential(*member(), *([TowardNeutral.of(toward)] if toward else []))


class Ensemble(nn.Module):
    """The mean of several networks' predictions (`ensemble`): networks trained alike from
    different seeds differ by more than their validation error shows, and their mean is steadier."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(z) for m in self.members]).mean(0)


class TowardNeutral(nn.Module):
    """p -> neutral + alpha (p - neutral) where the parameter has a neutral value (`calibrate`)."""

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", scale.clone())
        self.register_buffer("shift", shift.clone())

    @staticmethod
    def of(toward: dict) -> "TowardNeutral":
        """`toward["alpha"]`: one pull for every parameter, or a list of one per parameter
        (`calibrate --per-effect`: the same value for the parameters of one effect)."""
        alpha = toward["alpha"]
        has = torch.tensor([v is not None for v in toward["neutral"]])
        neutral = torch.tensor([0.0 if v is None else v for v in toward["neutral"]])
        if isinstance(alpha, list):
            alpha = torch.tensor(alpha)
            return TowardNeutral(torch.where(has, alpha, torch.tensor(1.0)),
                                 torch.where(has, (1.0 - alpha) * neutral, torch.tensor(0.0)))
        return TowardNeutral(torch.where(has, torch.tensor(alpha), torch.tensor(1.0)),
                             torch.where(has, (1.0 - alpha) * neutral, torch.tensor(0.0)))

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return p * self.scale + self.shift


class Keep(nn.Module):
    """Zeroes the standardised inputs the network does not read (`train --drop-stats`)."""

    def __init__(self, keep: torch.Tensor):
        super().__init__()
        self.register_buffer("keep", keep.clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.keep


class Standardise(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.std


def ensemble(a: argparse.Namespace) -> None:
    cks = [torch.load(r / "checkpoint.pt", map_location="cpu", weights_only=False) for r in a.runs]
    first = cks[0]
    for r, ck in zip(a.runs, cks):
        if ck.get("members") or ck.get("toward_neutral"):
            raise SystemExit(f"{r} is an ensemble or calibrated already: give `train` or `spsa` runs")
        same = (ck["meta"]["params"], ck["n_in"], ck["n_out"], tuple(ck.get("hidden", DEFAULT_HIDDEN)),
                ck["meta"]["vae_sha256"], ck["meta"].get("encoder_sha256"), ck["meta"].get("stats_len"))
        want = (first["meta"]["params"], first["n_in"], first["n_out"], tuple(first.get("hidden", DEFAULT_HIDDEN)),
                first["meta"]["vae_sha256"], first["meta"].get("encoder_sha256"), first["meta"].get("stats_len"))
        if same != want:
            raise SystemExit(f"{r} is not the same network on the same inputs as {a.runs[0]}")
        if (ck.get("keep") is None) != (first.get("keep") is None) or (
                ck.get("keep") is not None and not torch.equal(ck["keep"], first["keep"])):
            raise SystemExit(f"{r} reads other inputs (--drop-stats) than {a.runs[0]}")
    out = {k: first[k] for k in ("n_in", "n_out", "keep", "meta")}
    out["hidden"] = tuple(first.get("hidden", DEFAULT_HIDDEN))
    out["members"] = len(cks)
    model = build(out)
    for m, ck in zip(model[0].members, cks):
        single = build(ck)
        single.load_state_dict(ck["model"])
        m.load_state_dict(single.state_dict())
    model.eval()
    figures = {"members": [ck["figures"] for ck in cks], "runs": [str(r) for r in a.runs]}
    # The mean's validation error on the first run's dataset (every run trained on its rows).
    data = Path(first["args"]["data"]) if first.get("args", {}).get("data") else None
    if data is not None and (data / "predict-dataset.json").exists():
        meta, z, p, val = load(data, first["meta"])
        with torch.no_grad():
            pred = model(torch.from_numpy(z[val]))
        figures["val_mae"] = float((pred - torch.from_numpy(p[val]).clamp(LO, HI)).abs().mean())
        figures["val_mae_members"] = [ck["figures"].get("val_mae") for ck in cks]
        print(json.dumps({"val_mae": figures["val_mae"], "members": figures["val_mae_members"]}), flush=True)
    out.update({"model": model.state_dict(), "figures": figures, "args": {k: str(v) for k, v in vars(a).items()}})
    a.out.mkdir(parents=True, exist_ok=True)
    torch.save(out, a.out / "checkpoint.pt")


def export(a: argparse.Namespace) -> None:
    import onnx
    from onnx.reference import ReferenceEvaluator

    ck = torch.load(a.run / "checkpoint.pt", map_location="cpu", weights_only=False)
    n_in, n_out, meta = ck["n_in"], ck["n_out"], ck["meta"]
    model = build(ck)
    model.load_state_dict(ck["model"])
    model.eval()
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"{a.name}.onnx"
    tmp = a.out / f".{a.name}.onnx.{os.getpid()}.tmp"
    torch.onnx.export(model, (torch.zeros(1, n_in),), str(tmp), input_names=["z"], output_names=["p"],
                      opset_version=17, dynamo=False)
    onnx.checker.check_model(onnx.load(str(tmp)))
    os.replace(tmp, path)
    ref = ReferenceEvaluator(onnx.load(str(path)))
    rng = np.random.default_rng(0)
    inputs = [np.zeros(n_in, dtype=np.float32), rng.normal(size=n_in).astype(np.float32)]
    golden = []
    for z in inputs:
        with torch.no_grad():
            out = model(torch.from_numpy(z)[None])[0].numpy()
        (o,) = ref.run(None, {"z": z[None]})
        if np.abs(o[0] - out).max() > 1e-4:
            raise SystemExit(f"ONNX and PyTorch disagree by {np.abs(o[0] - out).max()}")
        golden.append({"z": z.tolist(), "p": out.tolist()})
    (a.out / f"{a.name}.golden.json").write_text(json.dumps(golden) + "\n")
    side = {
        "format": FORMAT,
        "chain": meta["chain"],
        "params": meta["params"],
        "dim": meta["dim"],
        "vae_sha256": meta["vae_sha256"],
        **({"stats": meta["stats"]} if meta.get("stats") else {}),
        **({"encoder_sha256": meta["encoder_sha256"]} if meta.get("encoder_sha256") else {}),
        "training": {"examples": meta["n"], "dataset_config": meta["config"],
                     **({"also": meta["also"]} if meta.get("also") else {}), **ck["figures"]},
        "onnx_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    (a.out / f"{a.name}.json").write_text(json.dumps(side, indent=2) + "\n")
    print(json.dumps(side, indent=2))


class RenderServer:
    """`fxmatch predictor spsa-serve` as a child: losses of (example, setting) requests."""

    def __init__(self, cmd: list[str]):
        import subprocess
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        ready = self.proc.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise SystemExit(f"spsa-serve did not start ({' '.join(cmd)}): see its error above")
        self.n, self.n_params = int(ready[1]), int(ready[2])

    def losses(self, idx: np.ndarray, settings: np.ndarray) -> np.ndarray:
        lines = [f"{i} " + " ".join(f"{v:.7f}" for v in row) for i, row in zip(idx, settings)]
        self.proc.stdin.write("\n".join(lines) + "\ngo\n")
        self.proc.stdin.flush()
        answers = [self.proc.stdout.readline().strip() for _ in lines]
        bad = [a for a in answers if not a or a.startswith("error")]
        if bad:
            raise SystemExit(f"spsa-serve: {bad[0] or 'exited'}")
        return np.array([float(a) for a in answers])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


class SpsaSet:
    """One dataset in an SPSA run: its examples, its render server and its parameter-loss weight."""

    def __init__(self, a: argparse.Namespace, data: Path, ck: dict, repeat: int, param_weight: float):
        meta, z, p, val = load(data, ck["meta"])
        if (meta["params"] != ck["meta"]["params"] or meta["vae_sha256"] != ck["meta"]["vae_sha256"]
                or meta.get("encoder_sha256") != ck["meta"].get("encoder_sha256")):
            raise SystemExit(f"{a.init} was trained for another chain, VAE or style encoder than {data}")
        if z.shape[1] != ck["n_in"]:
            raise SystemExit(f"{data} rows have {z.shape[1]} inputs; {a.init} reads {ck['n_in']}")
        self.name, self.repeat, self.param_weight = str(data), repeat, param_weight
        self.server = RenderServer([a.fxmatch, "predictor", "spsa-serve", str(a.content), str(data),
                                    "--chain", str(a.chain), "--threads", str(a.render_threads), "--loss", a.loss])
        if self.server.n != meta["n"] or self.server.n_params != ck["n_out"]:
            raise SystemExit(f"spsa-serve describes another dataset than {data}")
        self.z, self.p = torch.from_numpy(z), torch.from_numpy(p).clamp(LO, HI)
        self.train_idx, self.val_idx = np.where(~val)[0], np.where(val)[0]
        if a.val_examples:
            self.val_idx = self.val_idx[:a.val_examples]

    def validate(self, model: nn.Module) -> dict:
        model.eval()
        with torch.no_grad():
            theta = model(self.z[self.val_idx]).numpy()
        audio = self.server.losses(self.val_idx, theta)
        truth = self.server.losses(self.val_idx, self.p[self.val_idx].numpy())
        return {"val_audio": float(audio.mean()), "val_audio_target": float(truth.mean()),
                "val_mae": float(np.abs(theta - self.p[self.val_idx].numpy()).mean())}


def spsa(a: argparse.Namespace) -> None:
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    torch.set_num_threads(a.threads)
    ck = torch.load(a.init / "checkpoint.pt", map_location="cpu", weights_only=False)
    model = build(ck)
    model.load_state_dict(ck["model"])
    sets = [SpsaSet(a, a.data, ck, 1, a.param_weight)]
    for spec in a.also:
        path, _, times = spec.partition("*")
        sets.append(SpsaSet(a, Path(path), ck, int(times or 1), a.also_param_weight))

    def validate() -> dict:
        return {s.name: s.validate(model) for s in sets}

    def score(v: dict) -> float:
        # Each dataset's validation audio loss relative to where the run started: the datasets'
        # losses differ in scale (the seed's loss, the fit's), and each counts alike.
        return float(np.mean([v[s.name]["val_audio"] / first[s.name]["val_audio"] for s in sets]))

    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    a.out.mkdir(parents=True, exist_ok=True)
    log = (a.out / "log.jsonl").open("w")
    first = validate()
    row = {"epoch": 0, "score": 1.0, **first}
    print(json.dumps(row), flush=True)
    log.write(json.dumps(row) + "\n")
    best = (1.0, {k: v.clone() for k, v in model.state_dict().items()}, 0, first)
    for epoch in range(1, a.epochs + 1):
        model.train()
        batches = []  # (set, example indices), the sets' batches interleaved at random
        for s in sets:
            for _ in range(s.repeat):
                perm = rng.permutation(s.train_idx)
                if a.epoch_examples:
                    perm = perm[:a.epoch_examples]
                batches += [(s, perm[b:b + a.batch]) for b in range(0, len(perm), a.batch)]
        audio_sum = {s.name: [0.0, 0] for s in sets}
        for k in rng.permutation(len(batches)):
            s, idx = batches[k]
            theta = model(s.z[idx])
            delta = torch.from_numpy(rng.choice([-1.0, 1.0], size=theta.shape).astype(np.float32))
            t = theta.detach()
            plus, minus = (t + a.eps * delta).clamp(0, 1), (t - a.eps * delta).clamp(0, 1)
            losses = s.server.losses(np.concatenate([idx, idx]), torch.cat([plus, minus]).numpy())
            l_plus, l_minus = torch.from_numpy(losses[:len(idx)]), torch.from_numpy(losses[len(idx):])
            span = ((plus - minus) * delta).clamp_min(1e-6)  # 2 eps, less where a bound clipped
            grad = (l_plus - l_minus).float()[:, None] / span * delta
            # d(sum(theta * g)) / d(theta) = g: the SPSA estimate drives the network's gradient.
            audio_term = (theta * grad).sum(1).mean()
            param_term = (theta - s.p[idx]).abs().mean()
            opt.zero_grad()
            (a.audio_weight * audio_term + s.param_weight * param_term).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            audio_sum[s.name][0] += float(0.5 * (l_plus + l_minus).sum())
            audio_sum[s.name][1] += len(idx)
        v = validate()
        row = {"epoch": epoch, "score": score(v),
               "train_audio": {n: t / max(c, 1) for n, (t, c) in audio_sum.items()}, **v}
        print(json.dumps(row), flush=True)
        log.write(json.dumps(row) + "\n")
        if row["score"] < best[0]:
            best = (row["score"], {k: t.clone() for k, t in model.state_dict().items()}, epoch, v)
    for s in sets:
        s.server.close()
    model.load_state_dict(best[1])
    figures = {**ck["figures"], "spsa": {"best_epoch": best[2], "start": first, "best": best[3], "eps": a.eps,
                                         "loss": a.loss, "param_weight": a.param_weight,
                                         "also_param_weight": a.also_param_weight, "audio_weight": a.audio_weight,
                                         "epochs": a.epochs}}
    figures["val_mae"] = best[3][sets[0].name]["val_mae"]
    print(json.dumps(figures["spsa"]), flush=True)
    torch.save({"model": model.state_dict(), "n_in": ck["n_in"], "n_out": ck["n_out"], "keep": ck.get("keep"),
                **({"members": ck["members"]} if ck.get("members") else {}),
                "hidden": tuple(ck.get("hidden", DEFAULT_HIDDEN)), "meta": ck["meta"], "figures": figures,
                "args": {k: str(v) for k, v in vars(a).items()}}, a.out / "checkpoint.pt")


def calibrate(a: argparse.Namespace) -> None:
    import subprocess
    ck = torch.load(a.run / "checkpoint.pt", map_location="cpu", weights_only=False)
    if ck.get("toward_neutral"):
        raise SystemExit(f"{a.run} is calibrated already; calibrate the run it was made from")
    shown = json.loads(subprocess.run([a.fxmatch, "chain", "show", str(a.chain), "--json"], check=True,
                                      capture_output=True, text=True).stdout)
    names = [f["name"] for f in shown["free"]]
    if names != ck["meta"]["params"]:
        raise SystemExit(f"{a.chain} is not the chain {a.run} was trained for")
    neutral = [f["neutral"] for f in shown["free"]]
    if a.presence_margins and not ck.get("presence"):
        raise SystemExit(f"--presence-margins: {a.run} has no presence outputs (`train --presence`)")

    def network(margin: float) -> nn.Module:
        c = {**ck, "presence": {**ck["presence"], "margin": margin}} if ck.get("presence") else ck
        m = build(c)
        m.load_state_dict(ck["model"])
        return m.eval()

    model = network((ck.get("presence") or {}).get("margin", 0.0))
    rng = np.random.default_rng(a.seed)
    # Per dataset: the examples that choose the pull, then (--per-effect) the disjoint ones that check it.
    sets: list[tuple[str, SpsaSet, np.ndarray, torch.Tensor, np.ndarray, torch.Tensor]] = []
    for data in a.data:
        ns = argparse.Namespace(**{**vars(a), "init": a.run, "val_examples": 0})
        s = SpsaSet(ns, data, ck, 1, 0.0)
        # A chain dataset's validation examples (the network trained on the rest); all of a
        # projection dataset's (the network never saw them).
        idx = s.val_idx if not (data / "projection.jsonl").exists() else np.arange(len(s.z))
        order = rng.permutation(idx)
        choose = np.sort(order[:a.examples])
        check = np.sort(order[a.examples:a.examples + a.check_examples]) if a.per_effect else choose[:0]
        if a.per_effect and len(check) < a.check_examples:
            raise SystemExit(f"{data} has {len(idx)} usable examples: fewer than --examples + --check-examples")
        with torch.no_grad():
            sets.append((str(data), s, choose, model(s.z[choose]), check, model(s.z[check])))

    def audio(alpha, part: int) -> dict[str, float]:
        """Each dataset's mean audio loss at the pull `alpha` (a number, or one per parameter) on
        its choosing (part 0) or checking (part 1) examples."""
        out = {}
        for name, s, *rows in sets:
            idx, theta = rows[2 * part], rows[2 * part + 1]
            pulled = TowardNeutral.of({"alpha": alpha, "neutral": neutral})(theta).numpy()
            out[name] = float(s.server.losses(idx, pulled).mean())
        return out

    def relative(v: dict[str, float], base: dict[str, float]) -> float:
        # Each dataset's loss relative to the unpulled prediction's, averaged: the datasets'
        # losses differ in scale (the seed's loss, the fit's), and each counts alike.
        return float(np.mean([v[n] / base[n] for n in v]))

    def predict_with(m: nn.Module) -> None:
        """Replace each dataset's predictions (choosing and checking examples) with `m`'s."""
        with torch.no_grad():
            for k, (name, s, choose, _, check, _) in enumerate(sets):
                sets[k] = (name, s, choose, m(s.z[choose]), check, m(s.z[check]))

    def logit(p: float) -> float:
        return float(np.log(p / (1 - p)))

    margin_choice = None
    if a.presence_margins:
        # First the presence margin, unpulled: an effect is on where its presence probability
        # passes p; then the pull, on the predictions at the chosen margin.
        by_p = []
        for p in a.presence_margins:
            predict_with(network(logit(p)))
            by_p.append(audio(1.0, 0))
            print(json.dumps({"presence_margin": p, "examples": a.examples, "audio": by_p[-1]}), flush=True)
        p_score = [relative(v, by_p[0]) for v in by_p]
        p_best = a.presence_margins[int(np.argmin(p_score))]
        margin_choice = {"p": p_best, "grid": a.presence_margins, "score": p_score,
                         "audio": {name: [v[name] for v in by_p] for name, *_ in sets}}
        print(json.dumps({"presence_margin": p_best, "score": p_score}), flush=True)
        ck = {**ck, "presence": {**ck["presence"], "margin": logit(p_best)}}
        predict_with(network(ck["presence"]["margin"]))

    grid = [round(0.1 * k, 1) for k in range(1, 11)]
    by_alpha = [audio(alpha, 0) for alpha in grid]
    for alpha, v in zip(grid, by_alpha):
        print(json.dumps({"alpha": alpha, "examples": a.examples, "audio": v}), flush=True)
    losses = {name: [v[name] for v in by_alpha] for name, *_ in sets}
    unpulled = by_alpha[-1]
    score = [relative(v, unpulled) for v in by_alpha]
    best = int(np.argmin(score))
    toward = {"alpha": grid[best], "neutral": neutral, "grid": grid, "score": score, "audio": losses,
              "examples": a.examples}
    print(json.dumps({"alpha": grid[best], "score": score}), flush=True)
    if a.per_effect:
        toward.update(per_effect(a, names, neutral, grid[best], score[best], unpulled, audio, relative))
    for _, s, *_ in sets:
        s.server.close()
    a.out.mkdir(parents=True, exist_ok=True)
    figures = {**ck["figures"], "toward_neutral": {k: v for k, v in toward.items() if k != "neutral"},
               **({"presence_margin": margin_choice} if margin_choice else {})}
    calibrated = {**ck, "toward_neutral": toward, "figures": figures}
    extended = build(calibrated)
    extended.load_state_dict(ck["model"], strict=False)  # the last layer's buffers are set by build
    calibrated["model"] = extended.state_dict()
    torch.save(calibrated, a.out / "checkpoint.pt")


def per_effect(a, names, neutral, alpha0, score0, unpulled, audio, relative) -> dict:
    """One pull per effect (the parameters named `effect.*` that have a neutral value), by
    coordinate descent over the grid 0.0 ... 1.0 from the single best pull `alpha0`; 0 sets the
    effect to neutral, i.e. leaves it out. Kept only where it also beats the single pull on the
    checking examples, which took no part in the choice."""
    effects = list(dict.fromkeys(n.split(".")[0] for n, v in zip(names, neutral) if v is not None))
    chosen = {e: alpha0 for e in effects}
    grid = [round(0.1 * k, 1) for k in range(0, 11)]
    seen: dict[tuple, float] = {tuple(chosen.values()): score0}

    def per_param(c: dict[str, float]) -> list[float]:
        return [c.get(n.split(".")[0], 1.0) for n in names]

    for sweep in range(a.sweeps):
        moved = False
        for e in effects:
            for v in grid:
                trial = {**chosen, e: v}
                key = tuple(trial.values())
                if key not in seen:
                    seen[key] = relative(audio(per_param(trial), 0), unpulled)
                    print(json.dumps({"sweep": sweep, "effect_alpha": trial, "score": seen[key]}), flush=True)
            best_v = min(grid, key=lambda v: seen[tuple({**chosen, e: v}.values())])
            moved |= best_v != chosen[e]
            chosen[e] = best_v
        if not moved:
            break
    # The check: the unpulled prediction, the single pull and the per-effect pulls on new examples.
    base = audio(1.0, 1)
    check = {"examples": a.check_examples, "single": relative(audio(alpha0, 1), base),
             "per_effect": relative(audio(per_param(chosen), 1), base)}
    chose = {"effect_alpha": chosen, "single_alpha": alpha0, "score": seen[tuple(chosen.values())],
             "check": check}
    print(json.dumps(chose), flush=True)
    if check["per_effect"] >= check["single"]:
        print("per-effect pulls do not beat the single pull on the checking examples: keeping the single pull",
              flush=True)
        return {"per_effect": chose}
    return {"alpha": per_param(chosen), "per_effect": chose}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--epochs", type=int, default=150)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--hidden", default="128,128,64,32", help="hidden layer widths (the seed's: 128,128,64,32)")
    t.add_argument("--drop-stats", default="",
                   help="statistics groups the network does not read, comma-separated: " + ", ".join(STATS_GROUPS))
    t.add_argument("--also", action="append", default=[], metavar="DIR[*K]",
                   help="another dataset of the same chain and layout (e.g. `fxmatch predictor project`), "
                        "its examples K times per epoch (default 1); validation as for --data")
    t.add_argument("--presence", action="store_true",
                   help="one presence output per effect (cross-entropy), amounts learnt only where it is on")
    t.add_argument("--other-content-only", action="store_true",
                   help="train and validate only on examples whose reference is other content than the input")
    sp = sub.add_parser("spsa")
    sp.add_argument("--data", type=Path, required=True)
    sp.add_argument("--content", type=Path, required=True, help="the content folder the dataset was made from")
    sp.add_argument("--chain", type=Path, required=True)
    sp.add_argument("--init", type=Path, required=True, help="a `train` run to start from")
    sp.add_argument("--out", type=Path, required=True)
    sp.add_argument("--epochs", type=int, default=6)
    sp.add_argument("--batch", type=int, default=32)
    sp.add_argument("--lr", type=float, default=2e-4)
    sp.add_argument("--eps", type=float, default=0.01)
    sp.add_argument("--param-weight", type=float, default=1.0)
    sp.add_argument("--also", action="append", default=[], metavar="DIR[*K]",
                    help="another dataset of the chain (e.g. `fxmatch predictor project`: the oracle is the input "
                         "through the example's sox chain), its examples K times per epoch; its parameter loss "
                         "weighs --also-param-weight")
    sp.add_argument("--also-param-weight", type=float, default=0.0,
                    help="parameter-loss weight of the --also datasets (0: their targets are fits, not truths)")
    sp.add_argument("--audio-weight", type=float, default=1.0, help="weight of the SPSA audio term")
    sp.add_argument("--loss", default="seed", choices=["seed", "fit", "judge"],
                    help="the loss of chain datasets (spsa-serve --loss); projection datasets use their fit's, or the judge "
                         "(the benchmark's fidelity distance over the input's) when it is asked for")
    sp.add_argument("--clip", type=float, default=1.0)
    sp.add_argument("--val-examples", type=int, default=0, help="0: all validation examples")
    sp.add_argument("--epoch-examples", type=int, default=0,
                    help="training examples per epoch, a fresh random draw each epoch (0: all)")
    sp.add_argument("--threads", type=int, default=1)
    sp.add_argument("--render-threads", type=int, default=2)
    sp.add_argument("--fxmatch", default="target/release/fxmatch")
    sp.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("calibrate")
    c.add_argument("--run", type=Path, required=True, help="a `train` or `spsa` run")
    c.add_argument("--data", type=Path, action="append", required=True,
                   help="a dataset to calibrate on (repeat): a projection dataset (all its examples) or the "
                        "run's own chain dataset (its validation examples)")
    c.add_argument("--content", type=Path, required=True, help="the content folder the datasets were made from")
    c.add_argument("--chain", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--examples", type=int, default=400, help="examples per dataset, a fixed random draw")
    c.add_argument("--per-effect", action="store_true",
                   help="then one pull per effect (coordinate descent from the single pull), kept if it also "
                        "wins on --check-examples other examples per dataset")
    c.add_argument("--check-examples", type=int, default=300)
    c.add_argument("--sweeps", type=int, default=2, help="coordinate-descent sweeps over the effects")
    c.add_argument("--loss", default="seed", choices=["seed", "fit", "judge"],
                   help="the loss of chain datasets (judge: the benchmark's fidelity distance, for projection datasets too)")
    c.add_argument("--presence-margins", type=float, nargs="+", default=None, metavar="P",
                   help="a `train --presence` run: first choose the presence probability an effect must pass "
                        "to be on, among these (e.g. 0.5 0.6 0.7 0.8 0.9; the first is the baseline), by the "
                        "same audio loss, then the pull")
    c.add_argument("--render-threads", type=int, default=2)
    c.add_argument("--fxmatch", default="target/release/fxmatch")
    c.add_argument("--seed", type=int, default=0)
    en = sub.add_parser("ensemble", help="one network that averages several `train` or `spsa` runs")
    en.add_argument("--runs", type=Path, nargs="+", required=True)
    en.add_argument("--out", type=Path, required=True)
    e = sub.add_parser("export")
    e.add_argument("--run", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--name", default="default")
    a = ap.parse_args()
    {"train": train, "spsa": spsa, "calibrate": calibrate, "ensemble": ensemble, "export": export}[a.cmd](a)


if __name__ == "__main__":
    main()
