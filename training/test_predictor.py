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


if __name__ == "__main__":
    unittest.main()
