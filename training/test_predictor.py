"""training/predictor.py's calibration layer (needs torch: skipped, with the reason printed, without it).

Run: /path/to/venv/bin/python -m unittest discover -s training -p 'test_*.py'
"""

import importlib.util
import sys
import unittest

HAVE_TORCH = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("numpy") is not None
if not HAVE_TORCH:
    print("test_predictor: skipping (torch is not installed; training/requirements.txt)", file=sys.stderr)


@unittest.skipUnless(HAVE_TORCH, "needs torch")
class TowardNeutral(unittest.TestCase):
    def test_pulls_only_the_parameters_with_a_neutral_value(self):
        import torch
        import predictor as pr
        layer = pr.TowardNeutral.of({"alpha": 0.6, "neutral": [0.0, None, 1.0, 0.5]})
        out = layer(torch.tensor([[0.5, 0.3, 0.2, 0.9]]))[0].tolist()
        for ours, want in zip(out, [0.3, 0.3, 0.52, 0.74]):
            self.assertAlmostEqual(ours, want, places=6)
        # alpha 1 leaves the prediction as it is.
        same = pr.TowardNeutral.of({"alpha": 1.0, "neutral": [0.0, None]})(torch.tensor([[0.4, 0.7]]))
        self.assertTrue(torch.equal(same, torch.tensor([[0.4, 0.7]])))

    def test_a_calibrated_checkpoint_rebuilds_with_its_layer(self):
        import torch
        import predictor as pr
        ck = {"n_in": 6, "n_out": 3, "hidden": (4,)}
        net = pr.build(ck)
        calibrated = {**ck, "toward_neutral": {"alpha": 0.5, "neutral": [0.0, None, 1.0]}}
        extended = pr.build(calibrated)
        extended.load_state_dict(net.state_dict(), strict=False)
        again = pr.build(calibrated)
        again.load_state_dict(extended.state_dict())  # strict: the layer's buffers are saved
        z = torch.randn(2, 6)
        raw = net(z)
        want = raw * torch.tensor([0.5, 1.0, 0.5]) + torch.tensor([0.0, 0.0, 0.5])
        self.assertTrue(torch.allclose(again(z), want))

    def test_one_pull_per_parameter(self):
        import torch
        import predictor as pr
        layer = pr.TowardNeutral.of({"alpha": [0.5, 0.0, 1.0, 0.2], "neutral": [0.0, 1.0, 0.5, None]})
        out = layer(torch.tensor([[0.8, 0.2, 0.9, 0.7]]))[0].tolist()
        for ours, want in zip(out, [0.4, 1.0, 0.9, 0.7]):  # None: never pulled
            self.assertAlmostEqual(ours, want, places=6)


@unittest.skipUnless(HAVE_TORCH, "needs torch")
class PerEffect(unittest.TestCase):
    """The coordinate descent of `calibrate --per-effect`, on a made-up loss whose best pulls are known."""

    names = ["drive.amount", "drive.tone", "eq.low", "eq.freq", "verb.mix"]
    neutral = [0.0, 0.5, 0.5, None, 0.0]

    def run_descent(self, best: dict, check_agrees: bool) -> dict:
        import argparse
        import predictor as pr
        effect_of = [n.split(".")[0] for n in self.names]

        def audio(alpha, part):
            per = [alpha] * len(self.names) if not isinstance(alpha, list) else alpha
            got = {e: per[effect_of.index(e)] for e in best}
            if part == 1 and not check_agrees:
                got = {e: 1.0 - v for e, v in got.items()}  # the check examples want the opposite
            return {"d": 1.0 + sum((got[e] - best[e]) ** 2 for e in best)}

        def relative(v, base):
            return v["d"] / base["d"]

        a = argparse.Namespace(sweeps=3, check_examples=10)
        unpulled = audio(1.0, 0)
        return pr.per_effect(a, self.names, self.neutral, 0.6, relative(audio(0.6, 0), unpulled), unpulled,
                             audio, relative)

    def test_finds_each_effects_pull_and_keeps_it_when_the_check_agrees(self):
        best = {"drive": 0.3, "eq": 1.0, "verb": 0.0}
        out = self.run_descent(best, check_agrees=True)
        self.assertEqual(out["per_effect"]["effect_alpha"], best)
        # One value per parameter; eq.freq has no neutral value, so its pull is irrelevant (1.0).
        self.assertEqual(out["alpha"], [0.3, 0.3, 1.0, 1.0, 0.0])

    def test_keeps_the_single_pull_when_the_check_disagrees(self):
        out = self.run_descent({"drive": 0.3, "eq": 1.0, "verb": 0.0}, check_agrees=False)
        self.assertNotIn("alpha", out)
        self.assertGreaterEqual(out["per_effect"]["check"]["per_effect"], out["per_effect"]["check"]["single"])


@unittest.skipUnless(HAVE_TORCH, "needs torch")
class EnsembleOfRuns(unittest.TestCase):
    def save_run(self, root, name, seed, n_in=6, hidden=(4,)):
        import torch
        import predictor as pr
        torch.manual_seed(seed)
        ck = {"n_in": n_in, "n_out": 3, "hidden": hidden, "keep": None,
              "meta": {"params": ["a.x", "a.y", "b.z"], "vae_sha256": "v", "stats_len": 0}, "figures": {"val_mae": 0.1}}
        net = pr.build(ck)
        ck["model"] = net.state_dict()
        d = root / name
        d.mkdir()
        torch.save(ck, d / "checkpoint.pt")
        return d, net

    def test_the_ensemble_is_the_mean_of_its_runs_and_calibrates_like_one(self):
        import argparse
        import tempfile
        from pathlib import Path
        import torch
        import predictor as pr
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (r1, n1), (r2, n2) = self.save_run(root, "r1", 1), self.save_run(root, "r2", 2)
            pr.ensemble(argparse.Namespace(runs=[r1, r2], out=root / "ens"))
            ck = torch.load(root / "ens" / "checkpoint.pt", weights_only=False)
            model = pr.build(ck)
            model.load_state_dict(ck["model"])  # strict: the layout build() makes
            z = torch.randn(5, 6)
            with torch.no_grad():
                self.assertTrue(torch.allclose(model(z), (n1(z) + n2(z)) / 2, atol=1e-6))
                # A calibrated ensemble rebuilds with its pull after the mean, as calibrate saves it.
                cal = {**ck, "toward_neutral": {"alpha": 0.5, "neutral": [0.0, None, 1.0]}}
                ext = pr.build(cal)
                ext.load_state_dict(ck["model"], strict=False)
                want = (n1(z) + n2(z)) / 2 * torch.tensor([0.5, 1.0, 0.5]) + torch.tensor([0.0, 0.0, 0.5])
                self.assertTrue(torch.allclose(ext(z), want, atol=1e-6))

    def test_runs_of_different_networks_are_refused(self):
        import argparse
        import tempfile
        from pathlib import Path
        import predictor as pr
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (r1, _), (r2, _) = self.save_run(root, "r1", 1), self.save_run(root, "r2", 2, hidden=(5,))
            with self.assertRaises(SystemExit):
                pr.ensemble(argparse.Namespace(runs=[r1, r2], out=root / "ens"))


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(HAVE_TORCH, "needs torch")
class PresenceHead(unittest.TestCase):
    def test_the_layout_finds_each_effects_off_value_and_presence(self):
        import numpy as np
        import predictor as pr
        params = ["comp.ratio", "comp.threshold", "delay.mix"]
        targets = np.array([[0.01, 0.99, 0.01],   # both off
                            [0.40, 0.30, 0.01],   # compressor on
                            [0.01, 0.99, 0.50],   # delay on
                            [0.01, 0.99, 0.01],
                            [0.70, 0.99, 0.20]],  # both on (threshold at its off value, ratio not)
                           dtype=np.float32)
        groups, off, on = pr.presence_layout(params, targets)
        self.assertEqual(groups, [0, 0, 1])
        np.testing.assert_allclose(off, [0.01, 0.99, 0.01], atol=1e-6)
        self.assertEqual(on.tolist(), [[False, False], [True, False], [False, True], [False, False], [True, True]])

    def test_an_effect_said_absent_gives_its_off_setting_and_the_checkpoint_rebuilds(self):
        import torch
        import predictor as pr
        head = pr.Presence(4, 3, (8,), [0, 0, 1], [0.01, 0.99, 0.01])
        z = torch.randn(5, 4)
        amounts, logits = head.parts(z)
        out = head(z)
        for i in range(5):
            for j, g in enumerate([0, 0, 1]):
                want = amounts[i, j] if logits[i, g] > 0 else [0.01, 0.99, 0.01][j]
                self.assertAlmostEqual(float(out[i, j]), float(want), places=6)
        ck = {"n_in": 4, "n_out": 3, "hidden": (8,), "presence": {"groups": [0, 0, 1], "off": [0.01, 0.99, 0.01]}}
        net = pr.build(ck)
        again = pr.build(ck)
        again.load_state_dict(net.state_dict())  # strict: the groups and off values are saved
        self.assertTrue(torch.equal(net(z), again(z)))

    def test_a_margin_turns_on_only_the_effects_whose_presence_passes_it(self):
        import torch
        import predictor as pr
        torch.manual_seed(0)
        ck = {"n_in": 4, "n_out": 3, "hidden": (8,), "presence": {"groups": [0, 0, 1], "off": [0.01, 0.99, 0.01]}}
        plain = pr.build(ck)
        z = torch.randn(64, 4)
        with torch.no_grad():
            amounts, logits = plain[-1].parts(plain[0](z))
        margin = float(logits.median())
        strict = pr.build({**ck, "presence": {**ck["presence"], "margin": margin}})
        strict.load_state_dict(plain.state_dict())  # strict loading: the margin is not a weight
        with torch.no_grad():
            out, base = strict(z), plain(z)
        for i in range(64):
            for j, g in enumerate([0, 0, 1]):
                want = amounts[i, j] if logits[i, g] > margin else [0.01, 0.99, 0.01][j]
                self.assertAlmostEqual(float(out[i, j]), float(want), places=6)
        self.assertFalse(torch.equal(out, base), "another margin, other effects on")
