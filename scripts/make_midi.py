#!/usr/bin/env python3
"""Write the MIDI sources of the bundled test clips (stdlib only, deterministic).

Usage: make_midi.py NAME OUT.mid     write one piece
       make_midi.py --list           list the pieces

Each piece is a short, musically plausible part in a key (riff, bass line, groove, voice-led
chords, lead melody, strummed chords) with a little seeded humanisation (timing and velocity),
so the clips are not machine-perfect but are identical on every run: the humanisation uses its
own SplitMix64 generator, not Python's `random`, whose algorithms may change between versions.
Every piece ends its track about a second after its last note so the synth renders the release;
scripts/make_clips.sh trims the audio to length.
"""

import struct
import sys

PPQ = 480  # ticks per quarter note


class Rng:
    """SplitMix64: tiny, portable and fully specified, so the jitter never changes."""

    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def uniform(self, lo, hi):
        self.state = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        z ^= z >> 31
        return lo + (hi - lo) * (z >> 11) / float(1 << 53)


class Piece:
    """One MIDI track (format 0) built in beats; humanised note times and velocities."""

    def __init__(self, name, bpm, seed, time_jitter_ms=4.0, vel_jitter=5):
        self.name = name
        self.bpm = bpm
        self.rng = Rng(seed)
        self.time_jitter_ms = time_jitter_ms
        self.vel_jitter = vel_jitter
        self.events = []  # (tick, order, bytes); note-offs sort before note-ons at one tick
        self.last_tick = 0

    def ticks(self, beats):
        return max(0, round(beats * PPQ))

    def setup(self, channel, program=None, volume=100):
        """Program, volume, centre pan, and reverb/chorus sends at 0: the clips must be dry."""
        if program is not None:
            self.events.append((0, 1, bytes([0xC0 | channel, program])))
        for cc, val in ((7, volume), (10, 64), (91, 0), (93, 0)):
            self.events.append((0, 0, bytes([0xB0 | channel, cc, val])))

    def note(self, channel, beat, dur, key, vel, jitter=True):
        """A note at `beat` lasting `dur` beats; jitter shifts the onset by a few ms."""
        shift = 0.0
        v = vel
        if jitter:
            shift = self.rng.uniform(-1.0, 1.0) * self.time_jitter_ms / 1000.0 * self.bpm / 60.0
            v = vel + round(self.rng.uniform(-1.0, 1.0) * self.vel_jitter)
        v = min(127, max(1, v))
        on = self.ticks(beat + shift)
        off = max(on + 1, self.ticks(beat + shift + dur))
        self.events.append((on, 2, bytes([0x90 | channel, key, v])))
        self.events.append((off, 1, bytes([0x80 | channel, key, 0])))
        self.last_tick = max(self.last_tick, off)

    def to_bytes(self, tail_beats):
        tempo = round(60_000_000 / self.bpm)
        meta = [
            (0, 0, b"\xff\x03" + vlq(len(self.name)) + self.name.encode("ascii")),
            (0, 0, b"\xff\x51\x03" + tempo.to_bytes(3, "big")),
            (0, 0, b"\xff\x58\x04\x04\x02\x18\x08"),  # 4/4
        ]
        events = sorted(meta + self.events, key=lambda e: (e[0], e[1]))
        out = bytearray()
        now = 0
        for tick, _, data in events:
            out += vlq(tick - now) + data
            now = tick
        end = self.last_tick + self.ticks(tail_beats)
        out += vlq(end - now) + b"\xff\x2f\x00"
        header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, PPQ)
        return header + b"MTrk" + struct.pack(">I", len(out)) + bytes(out)


def vlq(n):
    """MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


# ---------------------------------------------------------------------------------------------
# Dry clips


def guitar_clean():
    """Clean electric guitar (GM 27), A minor, 132 BPM: 16th-note arpeggios Am - Fmaj7 - C - E,
    notes left ringing until the chord changes as on a real guitar; ends on a ringing E chord."""
    p = Piece("guitar_clean", 132, seed=101)
    ch = 0
    p.setup(ch, program=27)
    shapes = [
        [45, 52, 57, 60, 64, 60, 57, 52],  # Am    x02210
        [41, 48, 53, 57, 64, 57, 53, 48],  # Fmaj7 1x3210
        [48, 52, 55, 60, 64, 60, 55, 52],  # C     x32010
    ]
    for i, shape in enumerate(shapes):
        start = 2 * i
        for j, key in enumerate(shape):
            beat = start + j * 0.25  # 16th notes
            accent = 96 if j % 4 == 0 else (80 if j % 2 == 0 else 70)
            p.note(ch, beat, start + 2 - beat - 0.03, key, accent)
    # E major (V of A minor), rolled up and left to ring.
    for j, key in enumerate([40, 47, 52, 56, 59, 64]):
        beat = 6 + j * 0.25
        p.note(ch, beat, 8 + 1.5 - beat, key, 92 if j == 0 else 78)
    return p


def bass_finger():
    """Finger electric bass (GM 33), A minor, 132 BPM: an 8th-note line with octave jumps and
    approach notes (Am, then F to E with a G# leading back), resolving to a held A."""
    p = Piece("bass_finger", 132, seed=202, time_jitter_ms=5.0)
    ch = 0
    p.setup(ch, program=33, volume=110)
    # (eighth index, length in eighths, key); A1=33 G1=31 C2=36 D2=38 E2=40 F1=29 E1=28 G#1=32
    line = [
        (0, 1.5, 33), (2, 0.9, 45), (3, 0.5, 33), (4, 0.9, 36), (5, 0.9, 38), (6, 0.9, 40), (7, 0.9, 31),
        (8, 1.5, 29), (10, 0.9, 41), (11, 0.5, 29), (12, 0.9, 28), (13, 0.5, 28), (14, 0.9, 40), (15, 0.9, 32),
    ]
    for eighth, length, key in line:
        accent = 100 if eighth % 4 == 0 else 84
        p.note(ch, eighth / 2, length / 2 * 0.95, key, accent)
    p.note(ch, 8, 1.0, 33, 104)
    return p


def drums_groove():
    """GM drum kit (channel 10), 132 BPM: two bars of a rock groove (8th hats, kick on 1 and
    the and-of-3, snare on 2 and 4, ghost notes, open hat), a snare/tom fill, and a final hit."""
    p = Piece("drums_groove", 132, seed=303, time_jitter_ms=3.0, vel_jitter=6)
    ch = 9
    p.setup(ch, volume=110)
    kick, snare, hat, open_hat, crash = 36, 38, 42, 46, 49
    tom_hi, tom_mid, tom_floor = 48, 45, 41

    def hit(step, key, vel):  # step: 16th note index
        p.note(ch, step / 4, 0.2, key, vel)

    for bar in range(2):
        s = 16 * bar
        last_bar = bar == 1
        for k in (0, 8, 10):
            hit(s + k, kick, 108 if k == 0 else 96)
        hit(s + 4, snare, 110)
        hit(s + 12, snare, 112)
        hit(s + 7, snare, 32)  # ghost notes
        if not last_bar:
            hit(s + 15, snare, 36)
        hat_steps = range(0, 12, 2) if last_bar else range(0, 16, 2)
        for k in hat_steps:
            if not last_bar and k == 14:
                hit(s + k, open_hat, 80)
            else:
                hit(s + k, hat, 88 if k % 4 == 0 else 64)
        if bar == 0:
            hit(s, crash, 100)
    # Fill on beat 4 of bar 2, then the final downbeat.
    for step, key, vel in ((13, snare, 84), (14, tom_hi, 96), (15, tom_floor, 100)):
        hit(16 + step, key, vel)
    hit(16 + 14.5, tom_mid, 90)
    hit(32, kick, 112)
    hit(32, snare, 104)
    return p


def piano_chords():
    """Acoustic grand (GM 0), C major, 126 BPM: C - Am - Dm7 - G7 - C, voice-led (C5 held as a
    common tone, F resolving to E and B to C), bass in the left hand, slightly rolled."""
    p = Piece("piano_chords", 126, seed=404, time_jitter_ms=6.0)
    ch = 0
    p.setup(ch, program=0)
    chords = [  # (beat, length in beats, left hand, right hand)
        (0, 2, [36, 48], [64, 67, 72]),  # C
        (2, 2, [45], [64, 69, 72]),  # Am
        (4, 1, [50], [65, 69, 72]),  # Dm7 (C in the top voice)
        (5, 1, [43], [65, 67, 71]),  # G7 (F and B resolve)
        (6, 3, [36, 48], [64, 67, 72]),  # C
    ]
    for beat, length, lh, rh in chords:
        for key in lh:
            p.note(ch, beat, length * 0.97, key, 84)
        for i, key in enumerate(rh):
            roll = (i + 1) * 0.018  # bottom-to-top, ~9 ms apart at this tempo
            p.note(ch, beat + roll, length * 0.97 - roll, key, 74 + 4 * i)
    return p


# ---------------------------------------------------------------------------------------------
# Reference content: different instruments and pieces


def synth_lead():
    """Sawtooth lead (GM 81), E minor, 100 BPM: a legato phrase climbing to D6 and falling
    back to a held E5."""
    p = Piece("synth_lead", 100, seed=505, time_jitter_ms=3.0)
    ch = 0
    p.setup(ch, program=81, volume=96)
    phrase = [  # (beat, length, key): E5 G5 A5 B5 D6 B5 A5 G5 F#5 E5
        (0, 0.5, 76), (0.5, 0.5, 79), (1, 0.5, 81), (1.5, 1, 83), (2.5, 0.5, 86),
        (3, 0.5, 83), (3.5, 0.5, 81), (4, 0.5, 79), (4.5, 0.5, 78), (5, 1.25, 76),
    ]
    for beat, length, key in phrase:
        p.note(ch, beat, length * 0.97, key, 96 if beat == int(beat) else 84)
    return p


def guitar_acoustic():
    """Steel-string acoustic guitar (GM 25), G major, 140 BPM: strummed G - D/F# - Em - Cadd9,
    down-down-up per chord (strings 12 ms apart; up-strums lighter, top strings only), ending
    on a ringing G."""
    p = Piece("guitar_acoustic", 140, seed=606, time_jitter_ms=4.0)
    ch = 0
    p.setup(ch, program=25)
    shapes = [
        [43, 47, 50, 55, 59, 67],  # G     320003
        [42, 50, 57, 62, 66],  # D/F#  2x0232
        [40, 47, 52, 55, 59, 64],  # Em    022000
        [48, 52, 55, 62, 67],  # Cadd9 x32033
    ]
    gap = 0.012 * 140 / 60  # 12 ms between strings, in beats

    def strum(beat, until, shape, vel, up=False):
        strings = list(reversed(shape[-4:])) if up else shape
        for i, key in enumerate(strings):
            b = beat + i * gap
            p.note(ch, b, until - b, key, vel - 3 * i)

    for i, shape in enumerate(shapes):
        s = 2 * i
        strum(s, s + 1, shape, 96)
        strum(s + 1, s + 1.5, shape, 84)
        strum(s + 1.5, s + 2, shape, 72, up=True)
    strum(8, 10, shapes[0], 98)
    return p


PIECES = {
    f.__name__: f
    for f in (guitar_clean, bass_finger, drums_groove, piano_chords, synth_lead, guitar_acoustic)
}


def main(argv):
    if argv[1:] == ["--list"]:
        for name, f in PIECES.items():
            print(f"{name}: {' '.join(f.__doc__.split())}")
        return 0
    if len(argv) != 3 or argv[1] not in PIECES:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        print("pieces: " + ", ".join(PIECES), file=sys.stderr)
        return 2
    piece = PIECES[argv[1]]()
    with open(argv[2], "wb") as f:
        f.write(piece.to_bytes(tail_beats=2.0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
