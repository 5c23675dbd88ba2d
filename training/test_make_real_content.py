"""The real-content pipeline's fixed split, excerpt choice and sequence building.

Run: python3 -m unittest discover -s training -p 'test_*.py'   (standard library only; the audio
checks need numpy and sox and are skipped, with the reason printed, where either is missing)
"""

import importlib.util
import random
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import make_real_content as mr

HAVE_NUMPY = importlib.util.find_spec("numpy") is not None
HAVE_SOX = shutil.which("sox") is not None
if not (HAVE_NUMPY and HAVE_SOX):
    print(f"test_make_real_content: skipping the audio checks (numpy: {HAVE_NUMPY}, sox: {HAVE_SOX}); "
          "the split, excerpt and sequence logic is tested", file=sys.stderr)


class Split(unittest.TestCase):
    def test_fixed_split_by_package_kit_family_language(self):
        cases = {
            ("megaglest-data", "/usr/share/games/megaglest/data/core/menu/music/a.ogg"): "held-out",
            ("warzone2100-music", "/usr/share/games/warzone2100/music/albums/x/track1.opus"): "train",
            ("supertuxkart-data", "/usr/share/games/supertuxkart/data/music/Lava.ogg"): "train",
            ("hydrogen-drumkits", f"{mr.HYDROGEN}/ColomboAcousticDrumkit/snare-1.flac"): "held-out",
            ("hydrogen-drumkits", f"{mr.HYDROGEN}/HardElectro1/kick.wav"): "held-out",
            ("hydrogen-drumkits", f"{mr.HYDROGEN}/VariBreaks/beats1.flac"): "train",
            ("sonic-pi-samples", f"{mr.SONIC_PI}/tabla_na.flac"): "held-out",
            ("sonic-pi-samples", f"{mr.SONIC_PI}/loop_tabla.flac"): "held-out",
            ("sonic-pi-samples", f"{mr.SONIC_PI}/guit_em9.flac"): "held-out",
            ("sonic-pi-samples", f"{mr.SONIC_PI}/bd_808.flac"): "train",
            ("sonic-pi-samples", f"{mr.SONIC_PI}/loop_amen.flac"): "train",
            ("klettres-data", f"{mr.KLETTRES}/ru/syllab/a.ogg"): "held-out",
            ("klettres-data", f"{mr.KLETTRES}/en_GB/alpha/b.ogg"): "held-out",
            ("klettres-data", f"{mr.KLETTRES}/en/alpha/b.ogg"): "train",
            ("klettres-data", f"{mr.KLETTRES}/fr/syllab/ba.ogg"): "train",
            ("pocketsphinx-testdata", f"{mr.POCKETSPHINX}/numbers.raw"): "held-out",
        }
        for (pkg, path), want in cases.items():
            self.assertEqual(mr.split_of(pkg, path), want, path)

    def test_each_split_has_every_kind_and_whole_shares(self):
        for split, rows in mr.SHARES.items():
            self.assertAlmostEqual(sum(r[2] for r in rows), 1.0, places=6, msg=split)
            self.assertEqual({r[0] for r in rows}, set(mr.KINDS), split)
        # no game-music package on both sides
        train = {r[1] for r in mr.SHARES["train"] if r[0] == "music"}
        held = {r[1] for r in mr.SHARES["held-out"] if r[0] == "music"}
        self.assertFalse(train & held)
        self.assertEqual(held, mr.HELD_OUT["music_packages"])

    def test_clip_counts_follow_minutes(self):
        total = sum(n * s for _, _, n, s in mr.clip_counts(60, "train"))
        self.assertAlmostEqual(total / 60, 60, delta=1)


class Excerpts(unittest.TestCase):
    def test_apportion(self):
        self.assertEqual(mr.apportion([1, 1, 2], 8), [2, 2, 4])
        self.assertEqual(sum(mr.apportion([3, 5, 7, 11], 13)), 13)
        self.assertEqual(mr.apportion([1, 1, 1], 2), [1, 1, 0])  # ties to the first
        self.assertEqual(mr.apportion([0, 0], 3), [0, 0])

    def test_near_silent_windows_are_skipped(self):
        loud, silent = [-20.0] * 10, [-90.0] * 10
        half = [-20.0] * 7 + [-90.0] * 3  # 30 % silent
        blocks = loud + silent + half + [-40.0] * 10 + loud[:5]
        self.assertEqual(mr.good_windows(blocks, 10), [0])
        self.assertEqual(mr.good_windows(blocks, 10, min_db=-45.0), [0, 30])
        self.assertEqual(mr.good_windows(blocks, 10, max_silent=0.3), [0, 20])

    def test_pick_is_seeded_sorted_and_bounded(self):
        c = list(range(0, 500, 10))
        a, b = mr.pick(c, 5, random.Random("0:x")), mr.pick(c, 5, random.Random("0:x"))
        self.assertEqual(a, b)
        self.assertEqual(a, sorted(a))
        self.assertTrue(set(a) <= set(c))
        self.assertEqual(mr.pick(c[:3], 5, random.Random(1)), c[:3])


class Sequences(unittest.TestCase):
    def test_drum_roles_from_names(self):
        for name, role in [("bd_808", "kick"), ("drum_bass_hard", "kick"), ("Kick-Hard", "kick"),
                           ("bassdrum-4mics-br-stereo-soft2", "kick"), ("sn_dolf", "snare"),
                           ("drum_snare_soft", "snare"), ("hihat-semi-open-1", "hat"),
                           ("drum_cymbal_closed", "hat"), ("crash16i__ride2", "cymbal"),
                           ("Tom-hard", "tom"), ("tabla_na", "other")]:
            self.assertEqual(mr.drum_role(name), role, name)

    def test_roles_from_a_hydrogen_drumkit_xml(self):
        xml = """<?xml version="1.0"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit"><name>k</name><instrumentList>
 <instrument><id>0</id><name>c3 - bass drum 1</name><layer><filename>beats_06-38.flac</filename></layer></instrument>
 <instrument><id>1</id><name>Pearl Snare</name><layer><filename>a.wav</filename></layer>
  <layer><filename>b.wav</filename></layer></instrument>
 <instrument><id>2</id><name>Thing</name><layer><filename>HiHat-Closed.wav</filename></layer></instrument>
 <instrument><id>3</id><name>empty</name></instrument>
</instrumentList></drumkit_info>"""
        got = mr.drumkit_instruments(xml)
        self.assertEqual(got, [("c3 - bass drum 1", ["beats_06-38.flac"]), ("Pearl Snare", ["a.wav", "b.wav"]),
                               ("Thing", ["HiHat-Closed.wav"])])
        self.assertEqual([mr.instrument_role(n, f[0]) for n, f in got], ["kick", "snare", "hat"])

    def test_drum_pattern(self):
        roles = {"kick": [0], "snare": [1], "hat": [2, 3], "tom": [4], "cymbal": [5], "other": [6]}
        hits = mr.drum_pattern(random.Random(3), roles, 8.0)
        self.assertEqual(hits, mr.drum_pattern(random.Random(3), roles, 8.0))
        self.assertNotEqual(hits, mr.drum_pattern(random.Random(4), roles, 8.0))
        self.assertTrue(all(0 <= t < 8.1 and 0 <= j <= 6 and 0 < g <= 1 for t, j, g in hits))
        self.assertIn(0, {j for _, j, _ in hits})
        self.assertIn(1, {j for _, j, _ in hits})
        # a "kit" of unclassified hits (tabla) still plays
        other = mr.drum_pattern(random.Random(3), {"other": [0, 1, 2]}, 8.0)
        self.assertTrue(other and {j for _, j, _ in other} <= {0, 1, 2})

    def test_phrase_and_speech_plan(self):
        notes = mr.phrase(random.Random(1), 8.0)
        self.assertEqual(notes, mr.phrase(random.Random(1), 8.0))
        self.assertTrue(notes and all(0 <= t < 8 and d > 0 and -24 <= s <= 24 for t, d, s, _ in notes))
        plan = mr.speech_plan(random.Random(2), 30, 6.0)
        self.assertEqual(plan, mr.speech_plan(random.Random(2), 30, 6.0))
        self.assertGreaterEqual(len(plan) * 0.35, 6.0 - 0.35)
        self.assertTrue(all(0 <= g <= 0.9 and 0 <= u < 30 for g, u in plan))
        self.assertTrue(any(g >= 0.35 for g, _ in plan[1:]) or len(plan) < 20)

    def test_freepats_held_out_programs(self):
        import make_content as mc
        mc.HELD_OUT_MODE = True
        try:
            held = [mc.presets_needed(mc.music_piece(s)) for s in range(40)]
        finally:
            mc.HELD_OUT_MODE = False
        for needed in held:
            for bank, prog in needed:
                self.assertIn(prog, mc.HELD_OUT_DRUM_KITS if bank == 128 else mc.HELD_OUT_PROGRAMS)


HAVE_TIMIDITY = (shutil.which("timidity") is not None and shutil.which("setarch") is not None
                 and mr.FREEPATS_CFG.exists())


@unittest.skipUnless(HAVE_TIMIDITY, "needs timidity and freepats (make_real_content.py installs them)")
class Freepats(unittest.TestCase):
    def test_a_render_repeats_byte_for_byte(self):
        # This piece rendered without setarch -R gave three different files in six runs (eight
        # runs all alike by chance: about 1 %).
        import make_content as mc
        with tempfile.TemporaryDirectory() as tmp:
            midi = Path(tmp) / "p.mid"
            midi.write_bytes(mc.music_piece(6).to_bytes(tail_beats=2.0))
            renders = set()
            for k in range(8):
                wav = Path(tmp) / f"{k}.wav"
                subprocess.run(mr.timidity_command(midi, wav), check=True, capture_output=True)
                renders.add(wav.read_bytes())
            self.assertEqual(len(renders), 1)
            self.assertGreater(len(renders.pop()), 48_000)


@unittest.skipUnless(HAVE_NUMPY and HAVE_SOX, "audio checks need numpy and sox "
                     f"(numpy: {HAVE_NUMPY}, sox: {HAVE_SOX}); run with the training venv's python")
class Audio(unittest.TestCase):
    def test_decode_normalise_flatten_write(self):
        import numpy as np
        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "tone.wav"
            subprocess.run(["sox", "-n", "-r", "44100", "-c", "1", "-b", "16", str(src), "synth", "2",
                            "pinknoise", "vol", "0.3"], check=True)
            x = mr.decode(src)
            self.assertEqual(x.shape[1], 2)
            self.assertAlmostEqual(len(x) / mr.SR, 2.0, places=2)
            y = mr.level_normalise(mr.flatten(x, 0.5))
            rms = 10 * np.log10((y.astype(np.float64) ** 2).mean())
            peak = 20 * np.log10(np.abs(y).max())
            self.assertLessEqual(peak, -1.0 + 1e-3)
            self.assertTrue(abs(rms + 20) < 0.1 or abs(peak + 1) < 1e-3)
            self.assertEqual(len(mr.block_db(x)), 20)
            out = Path(d) / "o" / "c.wav"
            mr.write_wav(out, y)
            self.assertEqual(mr.decode(out).shape, x.shape)


    def test_speech_trimmed_to_the_voice_with_fades(self):
        import numpy as np
        rng = np.random.default_rng(0)
        noise = lambda n: (rng.standard_normal((n, 1)) * 0.003).astype(np.float32)  # ~ -50 dBFS
        t = np.arange(int(0.3 * mr.SR)) / mr.SR
        voice = (0.3 * np.sin(2 * np.pi * 200 * t))[:, None].astype(np.float32)
        x = np.concatenate([noise(mr.SR), voice + noise(len(voice)), noise(mr.SR)])
        y = mr.trim_speech(x)
        self.assertAlmostEqual(len(y) / mr.SR, 0.36, delta=0.02)
        self.assertLess(abs(float(y[0, 0])), 1e-3)
        self.assertLess(abs(float(y[-1, 0])), 1e-3)

if __name__ == "__main__":
    unittest.main()
