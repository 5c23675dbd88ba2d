"""Held-out instruments never appear in generated MIDI; the same seed gives the same MIDI.

Run: python3 -m unittest discover -s training -p 'test_*.py'   (standard library only)
"""

import struct
import tempfile
import unittest
from pathlib import Path

import make_content as mc


def chunk(cid: bytes, payload: bytes) -> bytes:
    return struct.pack("<4sI", cid, len(payload)) + payload


def tiny_soundfont(presets: list[tuple[int, int]], odd_sample_chunk: bool, pad: bool = False) -> bytes:
    """A RIFF sfbk with the chunks a SoundFont reader walks past and a `phdr` of `presets`
    (bank, program) plus the terminal record. With `odd_sample_chunk` the sample LIST has an odd
    size: SF3 writers leave it so, RIFF (`pad`) adds a pad byte after it."""
    recs = b"".join(struct.pack("<20sHHHIII", b"p%d" % k, prog, bank, 0, 0, 0, 0)
                    for k, (bank, prog) in enumerate(presets + [(0, 0)]))
    sdta = chunk(b"smpl", b"\x01" * (7 if odd_sample_chunk else 8))
    body = (b"sfbk" + chunk(b"LIST", b"INFO" + chunk(b"ifil", b"\x02\x00\x01\x00"))
            + chunk(b"LIST", b"sdta" + sdta) + (b"\x00" if pad else b"") + chunk(b"LIST", b"pdta" + chunk(b"pbag", b"\x00" * 4) + chunk(b"phdr", recs)))
    return chunk(b"RIFF", body)


class HeldOut(unittest.TestCase):
    def test_no_held_out_program_kit_or_voice(self):
        for seed in range(300):
            for bank, prog in mc.presets_needed(mc.music_piece(seed)):
                if bank == 128:
                    self.assertNotIn(prog, mc.HELD_OUT_DRUM_KITS, seed)
                else:
                    self.assertNotIn(prog, mc.HELD_OUT_PROGRAMS, seed)
        self.assertFalse(set(mc.TRAIN_VOICES) & mc.HELD_OUT_VOICES)
        self.assertFalse(set(mc.VARIANTS) & mc.HELD_OUT_VARIANTS)

    def test_deterministic(self):
        self.assertEqual(mc.music_piece(7).to_bytes(2.0), mc.music_piece(7).to_bytes(2.0))
        self.assertNotEqual(mc.music_piece(7).to_bytes(2.0), mc.music_piece(8).to_bytes(2.0))


class Soundfonts(unittest.TestCase):
    def test_presets_read_from_the_headers(self):
        with tempfile.TemporaryDirectory() as d:
            for odd, pad in ((False, False), (True, False), (True, True)):
                path = Path(d) / f"t{odd}{pad}.sf2"
                path.write_bytes(tiny_soundfont([(0, 33), (128, 16), (0, 81)], odd, pad))
                self.assertEqual(mc.soundfont_presets(path), {(0, 33), (128, 16), (0, 81)})
            bad = Path(d) / "bad.sf2"
            bad.write_bytes(chunk(b"RIFF", b"WAVE"))
            with self.assertRaises(ValueError):
                mc.soundfont_presets(bad)

    def test_a_soundfont_without_the_piece_presets_is_skipped(self):
        full, one_kit = (Path("full"), {(0, p) for p in range(128)} | {(128, 16)}), (Path("fm"), {(0, p) for p in range(128)} | {(128, 0)})
        needed = {(0, 34), (128, 16)}
        self.assertEqual(mc.pick_soundfont(1, needed, [full, one_kit]), Path("full"))
        self.assertEqual(mc.pick_soundfont(0, needed, [full, one_kit]), Path("full"))
        self.assertEqual(mc.pick_soundfont(1, {(0, 34)}, [full, one_kit]), Path("fm"))
        drums = next(mc.music_piece(s) for s in range(50) if mc.music_piece(s).kind == "drums")
        self.assertEqual({b for b, _ in mc.presets_needed(drums)}, {128})


if __name__ == "__main__":
    unittest.main()
