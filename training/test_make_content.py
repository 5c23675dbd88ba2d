"""Held-out instruments never appear in generated MIDI; the same seed gives the same MIDI.

Run: python3 -m unittest discover -s training -p 'test_*.py'   (standard library only)
"""

import unittest

import make_content as mc


def programs(piece) -> set[tuple[int, int]]:
    """(channel, program) of every program change in a piece."""
    return {(ev[2][0] & 0x0F, ev[2][1]) for ev in piece.events if ev[2][0] & 0xF0 == 0xC0}


class HeldOut(unittest.TestCase):
    def test_no_held_out_program_kit_or_voice(self):
        for seed in range(300):
            for ch, prog in programs(mc.music_piece(seed)):
                if ch == 9:
                    self.assertNotIn(prog, mc.HELD_OUT_DRUM_KITS, seed)
                else:
                    self.assertNotIn(prog, mc.HELD_OUT_PROGRAMS, seed)
        self.assertFalse(set(mc.TRAIN_VOICES) & mc.HELD_OUT_VOICES)
        self.assertFalse(set(mc.VARIANTS) & mc.HELD_OUT_VARIANTS)

    def test_deterministic(self):
        self.assertEqual(mc.music_piece(7).to_bytes(2.0), mc.music_piece(7).to_bytes(2.0))
        self.assertNotEqual(mc.music_piece(7).to_bytes(2.0), mc.music_piece(8).to_bytes(2.0))


if __name__ == "__main__":
    unittest.main()
