#!/usr/bin/env python3
"""Make varied training content for the style encoder, here, from Debian packages only.

Usage: python3 training/make_content.py OUT_DIR [--minutes 20] [--seed 0] [--jobs 2] [--soundfonts default|all|PATHS]

Writes OUT_DIR/{music,speech,synth}/*.wav, 48 kHz stereo 16-bit, each peak-normalised to -3 dBFS:
- music: MIDI generated here (bands with drums, bass, chords and a melody; solo lines; chord
  pads; drum loops) rendered dry by fluidsynth with FluidR3_GM (`--soundfonts all`: clip i with
  the i-th of Debian's four GM soundfonts in turn, skipping any that lacks a preset the piece
  uses), ~10 s each;
- speech: espeak-ng, many voices, variants, speeds and pitches, random sentences;
- synth: noise (white/pink/brown, bursts), oscillator sequences (sine/square/saw/triangle) and
  Karplus-Strong plucked strings, computed in Python.
Everything held out for evaluation (training/README.md, HELD_OUT below) is never used. The same
seed gives the same MIDI, text and synthesis parameters (renders are fluidsynth's and espeak-ng's,
deterministic for a given package version). Python standard library only.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import random
import struct
import subprocess
import sys
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SR = 48_000

# Instruments and voices of the bundled evaluation clips (assets/audio/README.md): never trained on.
HELD_OUT_PROGRAMS = {0, 25, 27, 33, 81}  # acoustic grand, steel guitar, clean guitar, finger bass, saw lead
HELD_OUT_DRUM_KITS = {0}  # GM Standard kit
HELD_OUT_VOICES = {"en-us", "en-gb-x-rp"}  # and the variant f3 (en-gb-x-rp+f3)
HELD_OUT_VARIANTS = {"f3"}

TRAIN_VOICES = [
    "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
    "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "cs", "fi", "hu", "ro", "el", "tr",
]
VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f4", "f5", "croak", "whisper"]
DRUM_KITS = [8, 16, 24, 25, 32, 40, 48]  # Room, Power, Electronic, TR-808, Jazz, Brush, Orchestra
WORDS = (
    "the a one small red green old new quiet loud bright dark room voice song night morning river "
    "city window music record studio signal level guitar piano drum bass listen play sing turn "
    "move bring keep carry open close slowly quickly again never always today tomorrow over under "
    "through between after before people friend house light water paper stone garden winter summer"
).split()


def load_make_midi():
    spec = importlib.util.spec_from_file_location("make_midi", ROOT / "scripts" / "make_midi.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


MM = load_make_midi()
MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]


# --held-out: make evaluation content from the held-out instruments and voices only.
HELD_OUT_MODE = False
HELD_OUT_SEED_OFFSET = 1_000_003  # pieces, texts and settings never drawn for training


def program(rng: random.Random, lo: int, hi: int) -> int:
    if HELD_OUT_MODE:
        inside = sorted(p for p in HELD_OUT_PROGRAMS if lo <= p <= hi)
        return rng.choice(inside or sorted(HELD_OUT_PROGRAMS))
    while True:
        p = rng.randint(lo, hi)
        if p not in HELD_OUT_PROGRAMS:
            return p


def drums(piece, rng: random.Random, bars: int, busy: float) -> None:
    piece.setup(9, rng.choice(sorted(HELD_OUT_DRUM_KITS) if HELD_OUT_MODE else DRUM_KITS), volume=rng.randint(80, 110))
    for bar in range(bars):
        b0 = bar * 4
        for step in range(8 if busy < 0.5 else 16):
            beat = b0 + step * (0.5 if busy < 0.5 else 0.25)
            piece.note(9, beat, 0.1, rng.choice([42, 42, 42, 44, 46]), rng.randint(50, 90))
        for beat in (0, 2.5) if rng.random() < 0.5 else (0, 1.5, 2):
            piece.note(9, b0 + beat, 0.2, rng.choice([35, 36]), rng.randint(90, 120))
        for beat in (1, 3):
            piece.note(9, b0 + beat, 0.2, rng.choice([38, 40, 39]), rng.randint(80, 120))
        if rng.random() < 0.3:
            for i in range(4):
                piece.note(9, b0 + 3 + i * 0.25, 0.2, rng.choice([41, 43, 45, 47, 48, 50]), rng.randint(70, 110))
    if rng.random() < 0.5:
        piece.note(9, 0, 1.0, rng.choice([49, 57, 51, 53]), 100)


def music_piece(seed: int):
    """A random piece of ~10 s: band, solo line, chord pad or drum loop."""
    rng = random.Random(seed)
    bpm = rng.randint(70, 160)
    bars = max(2, round(10.0 * bpm / 60 / 4))
    piece = MM.Piece(f"train{seed}", bpm, seed, time_jitter_ms=rng.uniform(0, 8), vel_jitter=rng.randint(0, 12))
    kind = rng.choice(["band", "band", "solo", "chords", "bass", "drums"])
    piece.kind = kind  # for analyses by kind (diagnose_zero_shot.py)
    root = rng.randint(36, 47)
    scale = rng.choice([MAJOR, MINOR])
    degrees = [rng.choice([0, 3, 4, 5]) for _ in range(bars)]

    def chord(d: int) -> list[int]:
        return [root + 12 + scale[(d + k) % 7] + 12 * ((d + k) // 7) for k in (0, 2, 4)]

    if kind in ("band", "drums"):
        drums(piece, rng, bars, rng.random())
    if kind in ("band", "bass"):
        ch, prog = 1, program(rng, 32, 39)
        piece.setup(ch, prog, volume=rng.randint(90, 115))
        step = rng.choice([0.5, 1.0])
        for bar, d in enumerate(degrees):
            for i in range(int(4 / step)):
                key = root + scale[d % 7] + (12 if rng.random() < 0.2 else 0)
                piece.note(ch, bar * 4 + i * step, step * 0.9, key, rng.randint(70, 110))
    if kind in ("band", "chords"):
        ch = 2
        piece.setup(ch, program(rng, 0, 95) if rng.random() < 0.5 else program(rng, 0, 23), volume=rng.randint(70, 100))
        pattern = rng.choice(["block", "arp", "strum"])
        for bar, d in enumerate(degrees):
            notes = chord(d)
            if pattern == "block":
                for n in notes:
                    piece.note(ch, bar * 4, 3.8, n, rng.randint(50, 90))
            elif pattern == "arp":
                for i in range(8):
                    piece.note(ch, bar * 4 + i * 0.5, 0.45, notes[i % 3] + 12 * (i // 3 % 2), rng.randint(50, 90))
            else:
                for beat in (0, 1, 1.5, 2.5, 3):
                    for j, n in enumerate(notes):
                        piece.note(ch, bar * 4 + beat + 0.015 * j, 0.4, n, rng.randint(50, 95))
    if kind in ("band", "solo"):
        ch = 3
        piece.setup(ch, program(rng, 0, 111), volume=rng.randint(80, 115))
        beat, pos = 0.0, rng.randint(0, 6)
        while beat < bars * 4:
            dur = rng.choice([0.25, 0.5, 0.5, 1.0, 1.5])
            pos = max(0, min(13, pos + rng.choice([-2, -1, -1, 1, 1, 2, 3, -3])))
            if rng.random() > 0.15:
                piece.note(ch, beat, dur * 0.95, root + 24 + scale[pos % 7] + 12 * (pos // 7), rng.randint(60, 110))
            beat += dur
    return piece


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finish(src: Path, dst: Path, seconds: float | None = None) -> None:
    """48 kHz stereo 16-bit, leading/trailing silence cut, optionally cut to length, -3 dBFS peak."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp.wav")
    cmd = ["sox", "-V1", "-R", "-D", str(src), "-b", "16", str(tmp), "rate", "-v", str(SR), "channels", "2",
           "silence", "1", "0.02", "0.1%", "reverse", "silence", "1", "0.02", "0.1%", "reverse"]
    if seconds:
        cmd += ["trim", "0", f"{seconds}"]
    run(cmd + ["gain", "-n", "-3"])
    tmp.replace(dst)


DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
# The other General MIDI soundfonts Debian ships (timgm6mb-soundfont, opl3-soundfont,
# musescore-general-soundfont-small): other samples, or FM synthesis, for the same programs.
# `--soundfonts all` renders each clip with one of these in turn: more timbres per instrument.
ALL_SOUNDFONTS = [
    DEFAULT_SOUNDFONT,
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2"),
    Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
]
SOUNDFONT_PACKAGES = "fluid-soundfont-gm timgm6mb-soundfont opl3-soundfont musescore-general-soundfont-small"


def soundfont_presets(path: Path) -> set[tuple[int, int]]:
    """The (bank, program) presets of an SF2/SF3 file, read from its `phdr` chunk (38-byte
    records; the last one is the terminal "EOP")."""
    with open(path, "rb") as f:
        riff, _, form = struct.unpack("<4sI4s", f.read(12))
        if riff != b"RIFF" or form != b"sfbk":
            raise ValueError(f"{path} is not a SoundFont (RIFF sfbk)")
        while len(header := f.read(8)) == 8:
            cid, size = struct.unpack("<4sI", header)
            if not cid.isascii() or not cid.strip(b" ").isalnum():
                # The pad byte of an odd-sized chunk, which SF2 writers add and SF3 writers omit.
                f.seek(-7, 1)
                continue
            if cid == b"LIST" and f.read(4) == b"pdta":
                end = f.tell() + size - 4
                while f.tell() < end:
                    sid, ssize = struct.unpack("<4sI", f.read(8))
                    if sid == b"phdr":
                        data = f.read(ssize)
                        recs = [struct.unpack_from("<20sHH", data, k) for k in range(0, ssize - 38, 38)]
                        return {(bank, prog) for _, prog, bank in recs}
                    f.seek(ssize, 1)
            elif cid != b"LIST":
                f.seek(size, 1)
            else:
                f.seek(size - 4, 1)  # no pad byte: SF3 writers leave odd sizes unpadded
    raise ValueError(f"{path} has no preset headers (phdr)")


def presets_needed(piece) -> set[tuple[int, int]]:
    """(bank, program) of every program change in the piece; the drum channel (9) is bank 128."""
    return {(128 if ev[0] & 0x0F == 9 else 0, ev[1]) for _, _, ev in piece.events if ev[0] & 0xF0 == 0xC0}


def pick_soundfont(i: int, needed: set[tuple[int, int]], soundfonts: list[tuple[Path, set]]) -> Path:
    """Soundfont i mod n, or the next one that has every preset the piece uses: a missing preset
    would make fluidsynth substitute another (often kit 0, which is held out) or play nothing."""
    for k in range(len(soundfonts)):
        path, presets = soundfonts[(i + k) % len(soundfonts)]
        if needed <= presets:
            return path
    path, presets = soundfonts[i % len(soundfonts)]
    print(f"\nwarning: clip {i}: no soundfont given has (bank, program) {sorted(needed - presets)}; "
          f"fluidsynth substitutes in {path.name}. Fix: add a GM soundfont that has them (--soundfonts all)",
          file=sys.stderr)
    return path


def make_music(i: int, seed: int, out: Path, soundfonts: list[tuple[Path, set]], tmp: Path) -> None:
    dst = out / "music" / f"music_{i:04d}.wav"
    if dst.exists():
        return
    piece = music_piece(seed * 100_003 + i)
    mid, raw = tmp / f"m{i}.mid", tmp / f"m{i}.raw.wav"
    mid.write_bytes(piece.to_bytes(tail_beats=2.0))
    sf = pick_soundfont(i, presets_needed(piece), soundfonts)
    run(["fluidsynth", "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(SR), "-O", "float",
         "-T", "wav", "-F", str(raw), str(sf), str(mid)])
    finish(raw, dst, 12.0)


def make_speech(i: int, seed: int, out: Path, tmp: Path) -> None:
    dst = out / "speech" / f"speech_{i:04d}.wav"
    if dst.exists():
        return
    rng = random.Random(seed * 200_003 + i)
    voice = rng.choice(sorted(HELD_OUT_VOICES) if HELD_OUT_MODE else TRAIN_VOICES)
    variant = rng.choice(VARIANTS + sorted(HELD_OUT_VARIANTS) if HELD_OUT_MODE else VARIANTS)
    text = ". ".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 10))) for _ in range(rng.randint(2, 3)))
    raw = tmp / f"s{i}.wav"
    run(["espeak-ng", "-v", voice + (f"+{variant}" if variant else ""), "-s", str(rng.randint(120, 210)),
         "-p", str(rng.randint(20, 80)), "-w", str(raw), text])
    finish(raw, dst)


def write_wav(path: Path, left: list[float], right: list[float]) -> None:
    peak = max(1e-9, max(abs(v) for v in left + right))
    g = 0.7 / peak
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(b"".join(struct.pack("<hh", int(l * g * 32767), int(r * g * 32767)) for l, r in zip(left, right)))


def make_synth(i: int, seed: int, out: Path, tmp: Path) -> None:
    dst = out / "synth" / f"synth_{i:04d}.wav"
    if dst.exists():
        return
    rng = random.Random(seed * 300_007 + i)
    n = int(SR * rng.uniform(4.0, 8.0))
    kind = rng.choice(["noise", "osc", "pluck"])
    x = [0.0] * n
    if kind == "noise":
        colour, b, last = rng.choice(["white", "pink", "brown"]), [0.0] * 3, 0.0
        burst = rng.random() < 0.5
        period = int(SR * rng.uniform(0.15, 0.6))
        for t in range(n):
            w = rng.uniform(-1, 1)
            if colour == "pink":  # three-pole approximation
                b[0] = 0.99765 * b[0] + w * 0.0990460
                b[1] = 0.96300 * b[1] + w * 0.2965164
                b[2] = 0.57000 * b[2] + w * 1.0526913
                w = b[0] + b[1] + b[2] + w * 0.1848
            elif colour == "brown":
                last = 0.98 * last + 0.2 * w
                w = last
            x[t] = w * (math.exp(-(t % period) / (0.05 * SR)) if burst else 1.0)
    elif kind == "osc":
        shape = rng.choice(["sine", "square", "saw", "triangle"])
        step, phase = int(SR * rng.uniform(0.1, 0.5)), 0.0
        release = rng.uniform(0.3, 3.0) * step
        f = 110.0
        for t in range(n):
            if t % step == 0:
                f = 55.0 * 2 ** (rng.randint(0, 48) / 12)
            phase = (phase + f / SR) % 1.0
            v = {"sine": math.sin(2 * math.pi * phase), "square": 1.0 if phase < 0.5 else -1.0,
                 "saw": 2 * phase - 1, "triangle": 4 * abs(phase - 0.5) - 1}[shape]
            x[t] = v * min(1.0, (t % step) / 200) * math.exp(-(t % step) / release)
    else:  # Karplus-Strong plucked strings
        t = 0
        while t < n:
            f = 55.0 * 2 ** (rng.randint(0, 36) / 12)
            period, decay = max(2, int(SR / f)), rng.uniform(0.990, 0.999)
            buf = [rng.uniform(-1, 1) for _ in range(period)]
            length = int(SR * rng.uniform(0.2, 1.0))
            for k in range(min(length, n - t)):
                j = k % period
                v = buf[j]
                buf[j] = decay * 0.5 * (v + buf[(j + 1) % period])
                x[t + k] += v
            t += length
    pan = rng.uniform(0.3, 0.7)
    write_wav(dst, [v * (1 - pan) * 2 for v in x], [v * pan * 2 for v in x])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--minutes", type=float, default=20.0, help="approximate total length (default 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--held-out", action="store_true",
                    help="evaluation content: only the held-out instruments, drum kit and voices, other seeds; "
                         "music and speech only (`fxmatch eval … --content OUT/music --content OUT/speech`)")
    ap.add_argument("--soundfonts", default="default",
                    help="'default' (FluidR3_GM, as the shipped model's content), 'all' (the four Debian GM soundfonts, "
                         "clip i with the i-th in turn: more timbres per instrument) or a comma-separated list of paths")
    a = ap.parse_args()
    global HELD_OUT_MODE
    HELD_OUT_MODE = a.held_out
    seed = a.seed + (HELD_OUT_SEED_OFFSET if a.held_out else 0)
    paths = {"default": [DEFAULT_SOUNDFONT], "all": ALL_SOUNDFONTS}.get(a.soundfonts) or \
        [Path(p) for p in a.soundfonts.split(",")]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"error: soundfont not found: {', '.join(missing)}\n  fix: apt-get install {SOUNDFONT_PACKAGES}",
              file=sys.stderr)
        return 1
    soundfonts = [(p, soundfont_presets(p)) for p in paths]
    # Shares of the total length: music 65 % (~11 s clips), speech 20 % (~5 s), synth 15 % (~6 s).
    n_music = max(1, round(a.minutes * 60 * 0.65 / 11))
    n_speech = max(1, round(a.minutes * 60 * 0.20 / 5))
    n_synth = 0 if a.held_out else max(1, round(a.minutes * 60 * 0.15 / 6))
    if a.held_out:  # evaluation splits music and speech only: half and half
        n_music, n_speech = max(2, round(a.minutes * 60 * 0.5 / 11)), max(2, round(a.minutes * 60 * 0.5 / 5))
    for d in ("music", "speech", "synth"):
        (a.out / d).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as t, ThreadPoolExecutor(a.jobs) as pool:
        tmp = Path(t)
        jobs = [pool.submit(make_music, i, seed, a.out, soundfonts, tmp) for i in range(n_music)]
        jobs += [pool.submit(make_speech, i, seed, a.out, tmp) for i in range(n_speech)]
        jobs += [pool.submit(make_synth, i, seed, a.out, tmp) for i in range(n_synth)]
        for k, j in enumerate(jobs):
            j.result()
            print(f"\rcontent {k + 1}/{len(jobs)}", end="", file=sys.stderr, flush=True)
    print(f"\nwrote {n_music} music, {n_speech} speech, {n_synth} synth clips into {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
