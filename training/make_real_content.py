#!/usr/bin/env python3
"""Make training and held-out content for the style encoder from *recorded* audio that Debian ships.

Usage: python training/make_real_content.py OUT_DIR [--minutes 75] [--held-out-minutes 18]
                                            [--seed 0] [--jobs 2] [--flatten 0.5]

Sources (Debian packages, installed by `bash scripts/setup.sh $(python3 training/make_real_content.py --packages)`):
- music: produced game soundtracks, already mixed and mastered: warzone2100-music (Opus, ~4 h),
  supertuxkart-data (data/music/*.ogg, ~1 h), megaglest-data (*/music/*.ogg, ~31 min). 0ad-data
  is not used: 1.4 GB to download, 3.2 GB installed, for a few hundred MB of music.
- drums: one-shot drum samples (hydrogen-drumkits: 14 kits; sonic-pi-samples: bd_/sn_/drum_/elec_/
  perc_/tabla_ hits) played as random patterns of hits from ONE kit per clip, plus excerpts of
  sonic-pi's drum loops;
- instruments: sonic-pi-samples' tonal one-shots (ambi_/bass_/guit_/glitch_/mehackit_/misc_/vinyl_)
  played as phrases of notes (the sample resampled to other pitches), and MIDI generated as in
  make_content.py rendered by timidity with freepats (recorded GM patches);
- speech: klettres-data (recorded letters and syllables in ~25 languages) concatenated into
  pseudo-words and phrases with pauses; pocketsphinx-testdata (read speech, held out whole).

Split (fixed, by whole tracks / packages / kits / languages; HELD_OUT below):
- game music: megaglest-data held out whole (its 9 tracks); train: warzone2100-music, supertuxkart-data;
- drum kits: hydrogen kits "ColomboAcousticDrumkit" and "HardElectro1" and sonic-pi's tabla_
  samples (and loop_tabla) held out;
- instruments: sonic-pi's guit_ samples held out; freepats: training renders never use the GM
  programs make_content.py holds out (0, 25, 27, 33, 81), held-out renders use only those;
- speech: klettres languages en_GB, it, ru, he held out; pocketsphinx-testdata held out whole.

Writes OUT/train/{music,drums,instruments,speech}/*.wav and OUT/held-out/... (48 kHz stereo 16-bit)
and OUT/manifest.json (every clip: path, split, kind, package, source files, excerpt start). OUT/.cache
keeps the decoded tracks' level envelopes (resume). Game music excerpts (10 s, windows with near
silence skipped) are level-normalised to -20 dBFS RMS with the peak at most -1 dBFS, and with
`--flatten S` (default 0.5) their long-term spectrum is moved by the fraction S toward a pink
(-3 dB/octave) slope (smoothed over an octave, at most +-6 dB): the mastering's tonal balance then
varies less from track to track, so a "dry" excerpt looks less like an EQ'd one. Sequences are
peak-normalised to -3 dBFS like make_content.py. Deterministic for a seed (same packages): the
same clips and manifest, byte for byte. timidity's output depends on where its memory lands (with
address-space randomisation, one MIDI file rendered six times gave three different files, up to
about -30 dBFS peak apart, whatever its resampling, voice-filter and noise-shaping options), so it
runs with randomisation off for its process (`setarch -R`, util-linux): then the renders repeat.

Needs sox (decoding, resampling), opusdec (opus-tools; this sox has no Opus handler), timidity
and numpy (the mixing). The pure logic (split, apportioning, window choice, patterns) needs only
the standard library (tested by test_make_real_content.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import random
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

SR = 48_000
KINDS = ("music", "drums", "instruments", "speech")
PACKAGES = ("warzone2100-music supertuxkart-data megaglest-data hydrogen-drumkits sonic-pi-samples "
            "freepats timidity klettres-data pocketsphinx-testdata opus-tools sox").split()

WARZONE = Path("/usr/share/games/warzone2100/music")
STK = Path("/usr/share/games/supertuxkart/data/music")
MEGAGLEST = Path("/usr/share/games/megaglest")
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
FREEPATS_CFG = Path("/etc/timidity/freepats.cfg")
KLETTRES = Path("/usr/share/klettres")
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")

HELD_OUT = {
    "music_packages": {"megaglest-data"},
    "hydrogen_kits": {"ColomboAcousticDrumkit", "HardElectro1"},
    "sonic_pi_prefixes": {"tabla", "guit"},  # and loop_tabla
    "klettres_languages": {"en_GB", "it", "ru", "he"},
    "speech_packages": {"pocketsphinx-testdata"},
}
SONIC_PI_DRUMS = {"bd", "sn", "drum", "elec", "perc", "tabla"}
SONIC_PI_TONAL = {"ambi", "bass", "guit", "glitch", "mehackit", "misc", "vinyl"}

# Shares of each split's minutes, per source: (kind, source name, share, clip seconds).
SHARES = {
    "train": [("music", "warzone2100-music", 0.33, 10.0), ("music", "supertuxkart-data", 0.12, 10.0),
              ("drums", "hydrogen-drumkits", 0.10, 8.0), ("drums", "sonic-pi-samples", 0.05, 8.0),
              ("instruments", "sonic-pi-samples", 0.08, 8.0), ("instruments", "freepats", 0.12, 10.0),
              ("speech", "klettres-data", 0.20, 6.0)],
    "held-out": [("music", "megaglest-data", 0.45, 10.0),
                 ("drums", "hydrogen-drumkits", 0.10, 8.0), ("drums", "sonic-pi-samples", 0.05, 8.0),
                 ("instruments", "sonic-pi-samples", 0.08, 8.0), ("instruments", "freepats", 0.12, 10.0),
                 ("speech", "klettres-data", 0.12, 6.0), ("speech", "pocketsphinx-testdata", 0.08, 10.0)],
}


# ---------------------------------------------------------------- pure logic (standard library)

def split_of(package: str, path: str) -> str:
    """'train' or 'held-out' for a source file, by whole package, kit, sample family or language."""
    p = Path(path)
    if package in HELD_OUT["music_packages"] or package in HELD_OUT["speech_packages"]:
        return "held-out"
    if package == "hydrogen-drumkits":
        kit = p.relative_to(HYDROGEN).parts[0] if p.is_relative_to(HYDROGEN) else p.parent.name
        return "held-out" if kit in HELD_OUT["hydrogen_kits"] else "train"
    if package == "sonic-pi-samples":
        stem = p.stem
        fam = stem.split("_")[0]
        if fam in HELD_OUT["sonic_pi_prefixes"] or stem == "loop_tabla":
            return "held-out"
        return "train"
    if package == "klettres-data":
        lang = p.relative_to(KLETTRES).parts[0] if p.is_relative_to(KLETTRES) else p.parent.parent.name
        return "held-out" if lang in HELD_OUT["klettres_languages"] else "train"
    return "train"


def apportion(weights: list[float], n: int) -> list[int]:
    """n items over len(weights) bins in proportion to the weights (largest remainder; ties by index)."""
    total = sum(weights)
    if n <= 0 or total <= 0:
        return [0] * len(weights)
    raw = [w * n / total for w in weights]
    out = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - out[i]), i))
    for i in order[: n - sum(out)]:
        out[i] += 1
    return out


def good_windows(block_db: list[float], win_blocks: int, min_db: float = -35.0,
                 silent_db: float = -55.0, max_silent: float = 0.2) -> list[int]:
    """Start blocks of the non-overlapping windows of `win_blocks` blocks whose mean power is at
    least `min_db` and whose share of blocks below `silent_db` is at most `max_silent`."""
    out = []
    for s in range(0, len(block_db) - win_blocks + 1, win_blocks):
        w = block_db[s:s + win_blocks]
        mean_db = 10 * math.log10(max(1e-20, sum(10 ** (d / 10) for d in w) / len(w)))
        silent = sum(d < silent_db for d in w) / len(w)
        if mean_db >= min_db and silent <= max_silent:
            out.append(s)
    return out


def pick(candidates: list[int], k: int, rng: random.Random) -> list[int]:
    """k of the candidates (all when fewer), chosen at random, in ascending order."""
    return sorted(rng.sample(candidates, min(k, len(candidates))))


ROLE_TOKENS = [
    ("kick", {"kick", "kik", "kck", "bd", "kd", "bassdrum", "kickdrum"}),
    ("snare", {"snare", "snr", "sn", "sd", "clap", "rim", "rimshot", "sidestick", "stick"}),
    ("hat", {"hat", "hats", "hh", "hihat", "chh", "ohh", "closed", "pedal", "shaker", "tambourine", "tamb"}),
    ("cymbal", {"crash", "ride", "cymbal", "splash", "china", "rd", "cr", "crashride", "cup", "cym"}),
    ("tom", {"tom", "toms", "tm", "pearltom", "floor", "conga", "bongo", "djembe", "timbal", "timbale"}),
]


def drum_role(name: str) -> str:
    """kick / snare / hat / cymbal / tom / other, from the words of a sample's file name
    ("drum_bass_hard" is a kick; "drum_cymbal_closed" a hat)."""
    words = re.findall(r"[a-z]+", name.lower())
    if "bass" in words and "drum" in words:
        return "kick"
    for role, tokens in ROLE_TOKENS:
        if tokens & set(words):
            return role
    return "other"


def drumkit_instruments(xml_text: str) -> list[tuple[str, list[str]]]:
    """(instrument name, its layers' sample file names) from a Hydrogen drumkit.xml."""
    import xml.etree.ElementTree as ET
    out = []
    for el in ET.fromstring(xml_text).iter():
        if el.tag.rsplit("}", 1)[-1] != "instrument":
            continue
        name = next((c.text or "" for c in el if c.tag.rsplit("}", 1)[-1] == "name"), "")
        files = [f.text.strip() for f in el.iter() if f.tag.rsplit("}", 1)[-1] == "filename" and f.text]
        if files:
            out.append((name, files))
    return out


def instrument_role(name: str, filename: str) -> str:
    """A kit instrument's role from its name ("c3 - bass drum 1", "Pearl Kick"), else its file's."""
    role = drum_role(name)
    return role if role != "other" else drum_role(Path(filename).stem)


def drum_pattern(rng: random.Random, roles: dict[str, list[int]], seconds: float) -> list[tuple[float, int, float]]:
    """A random groove of hits (time s, sample index, gain 0..1) from one kit's samples by role:
    kick/snare backbeat with variations, hats on 8ths or 16ths, occasional toms, cymbals and other
    hits; a kit without the usual roles plays random hits of its samples on a 16th grid."""
    bpm = rng.uniform(75, 170)
    step = 60.0 / bpm / 4  # a 16th
    n_steps = int(seconds / step)
    swing = rng.uniform(0, 0.25) * step
    hits: list[tuple[float, int, float]] = []
    every = [i for v in roles.values() for i in v]

    def at(s: int) -> float:
        return s * step + (swing if s % 2 else 0.0) + rng.gauss(0, 0.004)

    def choose(role: str) -> int | None:
        v = roles.get(role) or []
        return rng.choice(v) if v else None

    if not (roles.get("kick") or roles.get("snare")):
        density = rng.uniform(0.2, 0.7)
        for s in range(n_steps):
            if rng.random() < density:
                hits.append((max(0.0, at(s)), rng.choice(every), rng.uniform(0.4, 1.0)))
        return hits
    kick_steps = rng.choice([{0, 8}, {0, 6, 8}, {0, 10}, {0, 4, 8, 12}, {0, 3, 8, 11}, {0, 7, 10}])
    snare_steps = rng.choice([{4, 12}, {4, 12, 15}, {8}, {4, 12, 14}])
    hat_every = rng.choice([1, 2, 2, 4])
    kick, snare, hat = choose("kick"), choose("snare"), choose("hat") or choose("cymbal")
    for s in range(n_steps):
        b = s % 16
        if kick is not None and (b in kick_steps or rng.random() < 0.04):
            hits.append((max(0.0, at(s)), kick, rng.uniform(0.75, 1.0)))
        if snare is not None and (b in snare_steps or rng.random() < 0.03):
            hits.append((max(0.0, at(s)), snare, rng.uniform(0.7, 1.0)))
        if hat is not None and s % hat_every == 0 and rng.random() < 0.95:
            hits.append((max(0.0, at(s)), hat, rng.uniform(0.3, 0.8) * (1.0 if b % 4 == 0 else 0.7)))
        if b == 12 and rng.random() < 0.2 and roles.get("tom"):
            for k in range(4):
                hits.append((max(0.0, at(s + k)), rng.choice(roles["tom"]), rng.uniform(0.6, 1.0)))
        if b == 0 and rng.random() < 0.15 and roles.get("cymbal"):
            hits.append((max(0.0, at(s)), rng.choice(roles["cymbal"]), rng.uniform(0.5, 0.9)))
        if roles.get("other") and rng.random() < 0.05:
            hits.append((max(0.0, at(s)), rng.choice(roles["other"]), rng.uniform(0.3, 0.8)))
    return sorted(hits)


MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]
PENTA = [0, 3, 5, 7, 10]


def phrase(rng: random.Random, seconds: float) -> list[tuple[float, float, int, float]]:
    """Notes (start s, duration s, semitones from the sample's pitch, gain) of a random phrase:
    a scale, a tempo, steps and leaps within about an octave either way, rests, occasional dyads."""
    scale = rng.choice([MAJOR, MINOR, PENTA])
    beat = 60.0 / rng.uniform(60, 150)
    notes, t, pos = [], 0.0, rng.randint(-3, 3)
    while t < seconds - 0.2:
        dur = beat * rng.choice([0.25, 0.5, 0.5, 1, 1, 2, 3])
        pos = max(-10, min(10, pos + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3])))
        if rng.random() > 0.15:
            semis = scale[pos % len(scale)] + 12 * (pos // len(scale))
            notes.append((t, dur, semis, rng.uniform(0.5, 1.0)))
            if rng.random() < 0.1:
                notes.append((t, dur, semis + rng.choice([3, 4, 7]), rng.uniform(0.4, 0.8)))
        t += dur
    return notes


def speech_plan(rng: random.Random, n_units: int, seconds: float) -> list[tuple[float, int]]:
    """(gap before it in s, unit index) for the syllables of pseudo-words (1-4 units, 0-40 ms
    apart), words 80-250 ms apart, phrases of 2-6 words separated by 350-900 ms pauses; planned
    for at least `seconds` assuming ~0.35 s per unit (the caller stops at `seconds`)."""
    plan: list[tuple[float, int]] = []
    t = 0.0
    while t < seconds:
        for w in range(rng.randint(2, 6)):
            for u in range(rng.randint(1, 4)):
                gap = rng.uniform(0.0, 0.04) if u else (rng.uniform(0.08, 0.25) if w else rng.uniform(0.35, 0.9))
                plan.append((gap, rng.randrange(n_units)))
                t += gap + 0.35
    return plan


def timidity_command(midi: Path, wav: Path) -> list[str]:
    """The command that renders `midi` to `wav` with freepats, dry (no reverb, chorus or noise
    shaping), with address-space randomisation off: timidity's output depends on where its memory
    lands, and only so does it repeat byte for byte (module docs)."""
    return ["setarch", platform.machine(), "-R", "timidity", "-c", str(FREEPATS_CFG), "-s", str(SR), "-Ow",
            "-o", str(wav), "-EFreverb=0", "-EFchorus=0", "--noise-shaping=0", str(midi)]


@dataclass
class Clip:
    path: str  # relative to OUT
    split: str
    kind: str
    package: str
    sources: list[str]
    start: float | None = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------- sources

def game_tracks(package: str) -> list[Path]:
    if package == "warzone2100-music":
        return sorted(WARZONE.rglob("*.opus"))
    if package == "supertuxkart-data":
        return sorted(STK.glob("*.ogg"))
    if package == "megaglest-data":
        return sorted(p for p in MEGAGLEST.rglob("*.ogg") if p.parent.name == "music")
    raise ValueError(package)


def hydrogen_kits() -> dict[str, list[tuple[Path, str]]]:
    """Each kit's samples and their roles, from its drumkit.xml (instrument names), or from the
    file names when it has none."""
    kits = {}
    for d in sorted(p for p in HYDROGEN.iterdir() if p.is_dir()):
        xml = d / "drumkit.xml"
        pairs: list[tuple[Path, str]] = []
        if xml.exists():
            for name, files in drumkit_instruments(xml.read_text(errors="replace")):
                pairs += [(d / f, instrument_role(name, f)) for f in files if (d / f).exists()]
        if not pairs:
            pairs = [(f, drum_role(f.stem)) for f in sorted(d.rglob("*"))
                     if f.suffix.lower() in (".wav", ".flac", ".aif", ".aiff")]
        if pairs:
            kits[d.name] = sorted(set(pairs))
    return kits


def sonic_pi(families: set[str]) -> list[Path]:
    return sorted(p for p in SONIC_PI.glob("*.flac") if p.stem.split("_")[0] in families)


def klettres_languages() -> dict[str, list[Path]]:
    langs: dict[str, list[Path]] = {}
    for f in sorted(KLETTRES.rglob("*.ogg")):
        langs.setdefault(f.relative_to(KLETTRES).parts[0], []).append(f)
    return langs


def pocketsphinx_files() -> list[Path]:
    return sorted(p for p in POCKETSPHINX.rglob("*") if p.suffix in (".wav", ".raw"))


# ---------------------------------------------------------------- audio (sox, numpy)

def decode(path: Path, channels: int | None = 2):
    """A file as float32 numpy (frames, channels) at 48 kHz, through sox (opusdec for Opus;
    pocketsphinx's .raw files are 16 kHz 16-bit mono)."""
    import numpy as np
    ch = ["channels", str(channels)] if channels else []
    out_fmt = ["-t", "f32", "-e", "floating-point", "-b", "32", "-r", str(SR)]
    if path.suffix == ".opus":
        dec = subprocess.Popen(["opusdec", "--quiet", "--force-wav", "--rate", "48000", str(path), "-"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        res = subprocess.run(["sox", "-V1", "-R", "-t", "wav", "-", *out_fmt, "-", "rate", "-v", str(SR), *ch],
                             stdin=dec.stdout, capture_output=True, check=True)
        dec.wait()
    else:
        src = ["-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1"] if path.suffix == ".raw" else []
        res = subprocess.run(["sox", "-V1", "-R", *src, str(path), *out_fmt, "-", "rate", "-v", str(SR), *ch],
                             capture_output=True, check=True)
    a = np.frombuffer(res.stdout, dtype="<f4")
    n_ch = channels or 1
    if channels is None:
        n_ch = int(subprocess.run(["soxi", "-c", str(path)], capture_output=True, text=True).stdout.strip() or 1) \
            if path.suffix != ".raw" else 1
    return a.reshape(-1, n_ch).copy()


def block_db(x, block: int = SR // 10) -> list[float]:
    import numpy as np
    n = len(x) // block
    if n == 0:
        return []
    p = (x[: n * block].astype(np.float64) ** 2).mean(axis=1).reshape(n, block).mean(axis=1)
    return [round(float(v), 2) for v in 10 * np.log10(np.maximum(p, 1e-12))]


def write_wav(path: Path, x) -> None:
    import wave
    import numpy as np
    path.parent.mkdir(parents=True, exist_ok=True)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    tmp = path.with_name(path.name + ".part")  # not *.wav: an interrupted write is never content
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())
    tmp.replace(path)


def peak_normalise(x, db: float = -3.0):
    import numpy as np
    peak = float(np.abs(x).max()) if x.size else 0.0
    return x * (10 ** (db / 20) / peak) if peak > 1e-6 else x


def level_normalise(x, rms_db: float = -20.0, ceiling_db: float = -1.0):
    """Mean power to `rms_db` dBFS, unless that puts the peak above `ceiling_db` (then the peak there)."""
    import numpy as np
    rms = math.sqrt(float((x.astype(np.float64) ** 2).mean()) + 1e-20)
    peak = float(np.abs(x).max()) + 1e-12
    gain_db = min(rms_db - 20 * math.log10(rms), ceiling_db - 20 * math.log10(peak))
    return x * 10 ** (gain_db / 20)


def flatten(x, strength: float, max_db: float = 6.0):
    """Move the excerpt's long-term spectrum (power, smoothed over an octave) toward a pink slope
    (-3 dB/octave, the level of its 250 Hz-4 kHz band kept) by `strength` (0: off, 1: all the way),
    a zero-phase static EQ of at most +-max_db, 40 Hz-16 kHz, applied on the whole excerpt."""
    import numpy as np
    if strength <= 0:
        return x
    n = len(x)
    spec = np.fft.rfft(x, axis=0)
    f = np.fft.rfftfreq(n, 1 / SR)
    p = (np.abs(spec) ** 2).mean(axis=1)
    centres = 40.0 * 2 ** (np.arange(0, 9.0, 1 / 3))  # 40 Hz .. 16 kHz in third octaves
    lf = np.log2(np.maximum(f, 1.0))
    band_db = []
    for c in centres:
        m = np.abs(lf - math.log2(c)) <= 0.5  # one octave wide
        band_db.append(10 * math.log10(float(p[m].mean()) + 1e-20))
    band_db = np.array(band_db)
    pink = -3.0 * np.log2(centres / 1000.0)
    mid = (centres >= 250) & (centres <= 4000)
    dev = band_db - pink - (band_db - pink)[mid].mean()
    gain_db = np.clip(-strength * dev, -max_db, max_db)
    g = np.interp(lf, np.log2(centres), gain_db, left=gain_db[0], right=gain_db[-1])
    return np.fft.irfft(spec * (10 ** (g / 20))[:, None], n=n, axis=0).astype(np.float32)


def trim_silence(x, db: float = -45.0):
    import numpy as np
    env = np.abs(x).max(axis=1)
    on = np.nonzero(env > 10 ** (db / 20) * max(1e-9, float(env.max())))[0]
    return x[on[0]:on[-1] + 1] if len(on) else x[:0]


def trim_speech(x, below_peak_db: float = 30.0, margin_s: float = 0.03, fade_s: float = 0.01):
    """A recording's edges cut where its 10 ms frames stay `below_peak_db` under the loudest frame
    (klettres' recordings carry up to 2 s of room noise ~30 dB down around a syllable) or within
    10 dB of its noise floor, its DC offset removed, keeping
    `margin_s` and fading `fade_s` in and out (no click at the cut)."""
    import numpy as np
    fr = SR // 100
    n = len(x) // fr
    if n == 0:
        return x
    db = 10 * np.log10((x[: n * fr].astype(np.float64) ** 2).mean(axis=1).reshape(n, fr).mean(axis=1) + 1e-12)
    # also 10 dB above the noise floor (the quietest fifth of the frames): a recording with
    # less than `below_peak_db` of signal-to-noise ratio is still cut to its voice
    thr = min(db.max() - 6.0, max(db.max() - below_peak_db, float(np.percentile(db, 20)) + 10.0))
    on = np.nonzero(db > thr)[0]
    a = max(0, on[0] * fr - int(margin_s * SR))
    b = min(len(x), (on[-1] + 1) * fr + int(margin_s * SR))
    y = x[a:b] - x[a:b].mean(axis=0)  # and without the DC offset some recordings have
    k = min(len(y) // 2, int(fade_s * SR))
    if k:
        ramp = np.linspace(0, 1, k, dtype=np.float32)[:, None]
        y[:k] *= ramp
        y[-k:] *= ramp[::-1]
    return y


def pan(x, position: float):
    """Mono (frames, 1) to stereo at `position` 0 (left) .. 1 (right), constant power; stereo kept."""
    import numpy as np
    if x.shape[1] == 2:
        return x
    a = position * math.pi / 2
    return np.concatenate([x * math.cos(a), x * math.sin(a)], axis=1) * math.sqrt(2)


def resample_pitch(x, semitones: float):
    """Play a sample `semitones` higher (shorter) or lower (longer) by linear interpolation."""
    import numpy as np
    ratio = 2 ** (semitones / 12)
    n = max(1, int(len(x) / ratio))
    t = np.arange(n) * ratio
    return np.stack([np.interp(t, np.arange(len(x)), x[:, c]) for c in range(x.shape[1])], axis=1).astype(np.float32)


# ---------------------------------------------------------------- makers

class Maker:
    def __init__(self, out: Path, seed: int, flatten_strength: float):
        self.out, self.seed, self.flatten = out, seed, flatten_strength
        self.cache: dict[str, object] = {}

    def rng(self, *key) -> random.Random:
        return random.Random(":".join(str(k) for k in (self.seed, *key)))

    def sample(self, path: Path, speech: bool = False):
        """A one-shot sample decoded at 48 kHz, its own channel count, edges trimmed (a recording
        of speech more tightly: trim_speech), cached."""
        k = f"{path}:{speech}"
        if k not in self.cache:
            x = decode(path, channels=None)
            self.cache[k] = trim_speech(x) if speech else trim_silence(x)
        return self.cache[k]

    # game music -----------------------------------------------------------
    def music_plan(self, split: str, package: str, n: int, clip_s: float) -> list[tuple[Path, int]]:
        tracks = [t for t in game_tracks(package) if split_of(package, str(t)) == split]
        counts = apportion([t.stat().st_size for t in tracks], n)
        return [(t, k) for t, k in zip(tracks, counts) if k]

    def music_track(self, split: str, package: str, track: Path, k: int, clip_s: float) -> list[Clip]:
        tag = hashlib.sha1(str(track).encode()).hexdigest()[:10]
        stem = f"{package.split('-')[0]}_{re.sub(r'[^A-Za-z0-9]+', '-', track.stem)[:40]}_{tag}"
        env_path = self.out / ".cache" / "envelopes" / f"{tag}.json"
        x = None
        if env_path.exists():
            env = json.loads(env_path.read_text())
        else:
            x = decode(track)
            env = block_db(x)
            env_path.parent.mkdir(parents=True, exist_ok=True)
            part = env_path.with_name(env_path.name + ".part")
            part.write_text(json.dumps(env))
            part.replace(env_path)
        win = int(round(clip_s * 10))
        starts = pick(good_windows(env, win), k, self.rng("music", package, track.name))
        clips = []
        for j, s in enumerate(starts):
            rel = f"{split}/music/{stem}_{j:03d}.wav"
            dst = self.out / rel
            clips.append(Clip(rel, split, "music", package, [str(track)], start=s / 10, seconds=clip_s))
            if dst.exists():
                continue
            if x is None:
                x = decode(track)
            seg = x[int(s / 10 * SR): int(s / 10 * SR) + int(clip_s * SR)]
            seg = level_normalise(flatten(seg, self.flatten))
            write_wav(dst, seg)
        return clips

    # drums ----------------------------------------------------------------
    def drum_kits(self, split: str, package: str) -> list[tuple[str, list[tuple[Path, str]]]]:
        if package == "hydrogen-drumkits":
            return [(name, pairs) for name, pairs in hydrogen_kits().items()
                    if split_of(package, str(pairs[0][0])) == split]
        files = [f for f in sonic_pi(SONIC_PI_DRUMS) if split_of(package, str(f)) == split]
        return [("sonic-pi", [(f, drum_role(f.stem)) for f in files])]

    def drums(self, split: str, package: str, i: int, clip_s: float) -> Clip:
        rng = self.rng("drums", split, package, i)
        rel = f"{split}/drums/{package.split('-')[0]}_{i:04d}.wav"
        loops = [f for f in SONIC_PI.glob("loop_*.flac") if split_of(package, str(f)) == split] \
            if package == "sonic-pi-samples" else []
        if loops and rng.random() < 0.3:  # an excerpt of one of sonic-pi's loops, repeated to length
            loop = rng.choice(sorted(loops))
            clip = Clip(rel, split, "drums", package, [str(loop)], seconds=clip_s, extra={"loop": True})
            if not (self.out / rel).exists():
                import numpy as np
                x = self.sample(loop)
                reps = int(math.ceil(clip_s * SR / max(1, len(x))))
                write_wav(self.out / rel, peak_normalise(np.tile(x, (reps, 1))[: int(clip_s * SR)]))
            return clip
        kits = self.drum_kits(split, package)
        name, pairs = kits[rng.randrange(len(kits))]
        if package == "sonic-pi-samples":  # a "kit": a few samples of each role
            by_role: dict[str, list[tuple[Path, str]]] = {}
            for fr in pairs:
                by_role.setdefault(fr[1], []).append(fr)
            pairs = sorted({fr for v in by_role.values() for fr in rng.sample(v, min(len(v), 2))})
        files = [f for f, _ in pairs]
        roles: dict[str, list[int]] = {}
        for j, (_, role) in enumerate(pairs):
            roles.setdefault(role, []).append(j)
        hits = drum_pattern(rng, roles, clip_s)
        used = sorted({j for _, j, _ in hits})
        positions = {j: rng.uniform(0.2, 0.8) for j in used}
        clip = Clip(rel, split, "drums", package, [str(files[j]) for j in used], seconds=clip_s, extra={"kit": name})
        if not (self.out / rel).exists():
            import numpy as np
            mix = np.zeros((int(clip_s * SR), 2), dtype=np.float32)
            for t, j, g in hits:
                s = pan(self.sample(files[j]), positions[j])
                a = int(t * SR)
                if a >= len(mix):
                    continue
                seg = s[: len(mix) - a]
                mix[a:a + len(seg)] += g * seg
            write_wav(self.out / rel, peak_normalise(mix))
        return clip

    # instruments ----------------------------------------------------------
    def instrument(self, split: str, i: int, clip_s: float) -> Clip:
        import numpy as np
        rng = self.rng("instruments", split, i)
        files = [f for f in sonic_pi(SONIC_PI_TONAL) if split_of("sonic-pi-samples", str(f)) == split]
        f = rng.choice(files)
        rel = f"{split}/instruments/sonicpi_{i:04d}.wav"
        notes = phrase(rng, clip_s)
        position = rng.uniform(0.25, 0.75)
        clip = Clip(rel, split, "instruments", "sonic-pi-samples", [str(f)], seconds=clip_s)
        if (self.out / rel).exists():
            return clip
        x = pan(self.sample(f), position)
        mix = np.zeros((int(clip_s * SR), 2), dtype=np.float32)
        for t, dur, semis, g in notes:
            y = resample_pitch(x, semis)
            keep = min(len(y), int((dur * rng.uniform(1.0, 2.5)) * SR))  # held, then released
            y = y[:keep].copy()
            fade = min(keep, int(0.03 * SR))
            y[keep - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)[:, None]
            a = int(t * SR)
            if a < len(mix):
                seg = y[: len(mix) - a]
                mix[a:a + len(seg)] += g * seg
        write_wav(self.out / rel, peak_normalise(mix))
        return clip

    def freepats(self, split: str, i: int, clip_s: float, tmp: Path, pieces: list[tuple[int, str, bytes]]) -> Clip | None:
        """Render the first of `pieces` (MIDI seed, kind, bytes) that is not near silent with
        timidity and freepats (freepats lacks some GM programs, so a piece can render silent)."""
        import numpy as np
        rel = f"{split}/instruments/freepats_{i:04d}.wav"
        for seed, kind, midi in pieces:
            clip = Clip(rel, split, "instruments", "freepats", [str(FREEPATS_CFG)], seconds=clip_s,
                        extra={"midi_seed": seed, "midi_kind": kind})
            if (self.out / rel).exists():
                return clip
            mid, raw = tmp / f"fp{split}{i}.mid", tmp / f"fp{split}{i}.wav"
            mid.write_bytes(midi)
            subprocess.run(timidity_command(mid, raw), check=True, capture_output=True)
            x = trim_silence(decode(raw))[: int(clip_s * SR)]
            if len(x) > SR and 10 * math.log10(float((x.astype(np.float64) ** 2).mean()) + 1e-20) > -50:
                clip.seconds = len(x) / SR
                write_wav(self.out / rel, peak_normalise(x))
                return clip
        return None

    # speech ---------------------------------------------------------------
    def klettres(self, split: str, i: int, clip_s: float) -> Clip:
        """Pseudo-words and phrases of one language's recorded syllables and letters (one speaker
        per language in klettres), with pauses."""
        import numpy as np
        rng = self.rng("speech", split, i)
        langs = {k: v for k, v in klettres_languages().items() if split_of("klettres-data", str(v[0])) == split}
        lang = rng.choice(sorted(langs))
        units = langs[lang]
        plan = speech_plan(rng, len(units), clip_s)
        rel = f"{split}/speech/speech_klettres_{lang}_{i:04d}.wav"  # speech_*: `fxmatch eval` counts it as speech
        mix = np.zeros((int(clip_s * SR), 2), dtype=np.float32)
        t, used = int(rng.uniform(0.05, 0.3) * SR), []
        position = rng.uniform(0.4, 0.6)
        for gap, u in plan:
            t += int(gap * SR)
            if t >= len(mix):
                break
            used.append(str(units[u]))
            x = pan(self.sample(units[u], speech=True), position)
            seg = x[: len(mix) - t]
            mix[t:t + len(seg)] += seg
            t += len(x)
        end = min(len(mix), t + int(0.2 * SR))
        clip = Clip(rel, split, "speech", "klettres-data", sorted(set(used)), seconds=end / SR, extra={"language": lang})
        if not (self.out / rel).exists():
            write_wav(self.out / rel, peak_normalise(mix[:end]))
        return clip

    def pocketsphinx(self, n: int, clip_s: float) -> list[Clip]:
        """Up to n excerpts of clip_s from pocketsphinx's recordings played one after another
        (sorted by path, 0.3-0.8 s pauses between them: many are 1-3 s commands)."""
        import numpy as np
        rng = self.rng("pocketsphinx")
        parts, where, t = [], [], 0
        for f in pocketsphinx_files():
            x = trim_speech(decode(f, channels=1))
            gap = np.zeros((int(rng.uniform(0.3, 0.8) * SR), 1), dtype=np.float32)
            parts += [gap, x]
            where.append((t + len(gap), t + len(gap) + len(x), str(f)))
            t += len(gap) + len(x)
        stream = np.concatenate(parts)
        clips, w = [], int(clip_s * SR)
        for j in range(min(n, len(stream) // w)):
            a, b = j * w, (j + 1) * w
            rel = f"held-out/speech/speech_pocketsphinx_{j:03d}.wav"
            sources = [f for s0, s1, f in where if s0 < b and s1 > a]
            clips.append(Clip(rel, "held-out", "speech", "pocketsphinx-testdata", sources, start=a / SR, seconds=clip_s))
            if not (self.out / rel).exists():
                write_wav(self.out / rel, peak_normalise(stream[a:b]))
        return clips


def clip_counts(minutes: float, split: str) -> list[tuple[str, str, int, float]]:
    return [(kind, pkg, max(1, round(minutes * 60 * share / clip_s)), clip_s)
            for kind, pkg, share, clip_s in SHARES[split]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, nargs="?")
    ap.add_argument("--minutes", type=float, default=75.0, help="training content, minutes (default 75)")
    ap.add_argument("--held-out-minutes", type=float, default=18.0, help="held-out content, minutes (default 18)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--flatten", type=float, default=0.5,
                    help="game music: move each excerpt's long-term spectrum this fraction toward pink (0: off)")
    ap.add_argument("--packages", action="store_true", help="print the Debian packages needed and exit")
    a = ap.parse_args()
    if a.packages:
        print(" ".join(PACKAGES))
        return 0
    if a.out is None:
        ap.error("OUT_DIR is required")
    missing = [str(p) for p in (WARZONE, STK, MEGAGLEST, HYDROGEN, SONIC_PI, FREEPATS_CFG, KLETTRES, POCKETSPHINX)
               if not p.exists()]
    if missing:
        print(f"error: not installed: {', '.join(missing)}\n  fix: bash scripts/setup.sh {' '.join(PACKAGES)}",
              file=sys.stderr)
        return 1
    try:
        import numpy  # noqa: F401  (the mixing and measuring)
    except ImportError:
        print("error: numpy is needed\n  fix: run it with the training venv's python "
              "(python3 -m venv .venv-train && .venv-train/bin/pip install -r training/requirements.txt)",
              file=sys.stderr)
        return 1
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import make_content as mc

    mk = Maker(a.out, a.seed, a.flatten)
    clips: list[Clip] = []
    with tempfile.TemporaryDirectory() as t, ThreadPoolExecutor(a.jobs) as pool:
        tmp = Path(t)
        futures = []
        for split, minutes in (("train", a.minutes), ("held-out", a.held_out_minutes)):
            if minutes <= 0:
                continue
            for kind, pkg, n, clip_s in clip_counts(minutes, split):
                if kind == "music":
                    for track, k in mk.music_plan(split, pkg, n, clip_s):
                        futures.append(pool.submit(mk.music_track, split, pkg, track, k, clip_s))
                elif kind == "drums":
                    futures += [pool.submit(mk.drums, split, pkg, i, clip_s) for i in range(n)]
                elif kind == "instruments" and pkg == "sonic-pi-samples":
                    futures += [pool.submit(mk.instrument, split, i, clip_s) for i in range(n)]
                elif kind == "instruments":  # freepats: the MIDI here (make_content's held-out flag is global)
                    for i in range(n):
                        pieces = []
                        for attempt in range(4):
                            seed = a.seed * 7_000_003 + i + attempt * 10_000_019 + (1_000_003 if split == "held-out" else 0)
                            mc.HELD_OUT_MODE = split == "held-out"
                            try:
                                piece = mc.music_piece(seed)
                            finally:
                                mc.HELD_OUT_MODE = False
                            pieces.append((seed, piece.kind, piece.to_bytes(tail_beats=2.0)))
                        futures.append(pool.submit(mk.freepats, split, i, clip_s, tmp, pieces))
                elif pkg == "klettres-data":
                    futures += [pool.submit(mk.klettres, split, i, clip_s) for i in range(n)]
                else:
                    futures.append(pool.submit(mk.pocketsphinx, n, clip_s))
        for k, f in enumerate(futures):
            r = f.result()
            clips += r if isinstance(r, list) else ([r] if r else [])
            print(f"\rreal content {k + 1}/{len(futures)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    clips.sort(key=lambda c: c.path)
    summary: dict[str, dict[str, float]] = {}
    for c in clips:
        s = summary.setdefault(c.split, {})
        s[c.kind] = s.get(c.kind, 0.0) + c.seconds / 60
    summary = {split: {k: round(v, 2) for k, v in kinds.items()} for split, kinds in summary.items()}
    manifest = {
        "seed": a.seed, "minutes": a.minutes, "held_out_minutes": a.held_out_minutes, "flatten": a.flatten,
        "held_out": {k: sorted(v) for k, v in HELD_OUT.items()},
        "minutes_by_split_and_kind": summary,
        "clips": [{"path": c.path, "split": c.split, "kind": c.kind, "package": c.package, "sources": c.sources,
                   "start": c.start, "seconds": round(c.seconds, 3), **c.extra} for c in clips],
    }
    (a.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    for split, kinds in summary.items():
        print(f"{split}: " + ", ".join(f"{k} {v:.1f} min" for k, v in sorted(kinds.items())), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
