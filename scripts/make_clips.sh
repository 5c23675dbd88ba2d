#!/usr/bin/env bash
# Regenerate the bundled test clips in assets/audio/{dry,content}/ from Debian tools only:
# MIDI written by scripts/make_midi.py and rendered by fluidsynth with FluidR3_GM (reverb and
# chorus off, so the clips are dry), speech by espeak-ng, conversion and levels by sox.
# Every clip: 48 kHz, 16-bit, stereo, exactly CLIP_LEN s, LEAD_IN s of silence before the first
# note, faded out over FADE s at the end, peak-normalised to PEAK_DB dBFS.
#
# Usage: scripts/make_clips.sh           rewrite the clips and assets/audio/SHA256SUMS
#        scripts/make_clips.sh --check   regenerate into a temp dir and compare with SHA256SUMS
#
# Reruns give bit-identical WAVs with the same package versions (see assets/audio/README.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Only this script needs these (setup.sh's own list provides sox).
CLIP_PACKAGES=(fluidsynth fluid-soundfont-gm espeak-ng)

SF2=/usr/share/sounds/sf2/FluidR3_GM.sf2
CLIP_LEN=4.0
LEAD_IN=0.02
FADE=0.25
PEAK_DB=-3

check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

bash scripts/setup.sh "${CLIP_PACKAGES[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ((check)); then out=$work/audio; else out=assets/audio; fi
mkdir -p "$out/dry" "$out/content"

# finish IN OUT [SOX_EFFECT...]: the common format and level. sox -R: repeatable; -D: no dither
# (plain rounding to 16 bit: reruns are bit-identical and silence stays digital silence).
finish() {
    local in=$1 dst=$2
    shift 2
    # -V1: the end pad is never reached once trim has enough (a harmless warning); lengths are
    # checked below instead.
    sox -V1 -R -D "$in" -b 16 "$dst" "$@" rate -v 48000 channels 2 \
        pad "$LEAD_IN" "$CLIP_LEN" trim 0 "$CLIP_LEN" fade t 0 "$CLIP_LEN" "$FADE" gain -n "$PEAK_DB"
    local got want
    got="$(soxi -r "$dst") $(soxi -b "$dst") $(soxi -c "$dst") $(soxi -s "$dst")"
    want="48000 16 2 $(awk -v l="$CLIP_LEN" 'BEGIN { printf "%d", l * 48000 }')"
    if [[ $got != "$want" ]]; then
        echo "make_clips: $dst: rate/bits/channels/samples are $got, expected $want" >&2
        exit 1
    fi
}

# midi_clip PIECE DIR: scripts/make_midi.py piece -> fluidsynth (dry, 48 kHz float) -> finish.
midi_clip() {
    local name=$1 dir=$2
    python3 scripts/make_midi.py "$name" "$work/$name.mid"
    fluidsynth -n -i -q -R 0 -C 0 -g 0.5 -r 48000 -O float -T wav \
        -F "$work/$name.render.wav" "$SF2" "$work/$name.mid" >/dev/null
    finish "$work/$name.render.wav" "$out/$dir/$name.wav"
}

# speech_clip NAME DIR VOICE RATE TEXT: espeak-ng -> leading/trailing silence cut -> finish.
speech_clip() {
    local name=$1 dir=$2 voice=$3 rate=$4 text=$5 len
    espeak-ng -v "$voice" -s "$rate" -w "$work/$name.speech.wav" "$text"
    sox "$work/$name.speech.wav" "$work/$name.cut.wav" \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse
    len=$(soxi -D "$work/$name.cut.wav")
    # The sentence must end before the fade so no word is cut off.
    if ! awk -v l="$len" -v c="$CLIP_LEN" -v a="$LEAD_IN" -v f="$FADE" 'BEGIN { exit !(l <= c - a - f) }'; then
        echo "make_clips: $name: speech lasts $len s, too long for a $CLIP_LEN s clip; raise the rate" >&2
        exit 1
    fi
    finish "$work/$name.cut.wav" "$out/$dir/$name.wav"
}

midi_clip guitar_clean dry
midi_clip bass_finger dry
midi_clip drums_groove dry
midi_clip piano_chords dry
speech_clip speech_en_us dry en-us 165 \
    "Turn the volume down a little, then play the chorus one more time."

midi_clip synth_lead content
midi_clip guitar_acoustic content
speech_clip speech_en_gb_f content en-gb-x-rp+f3 165 \
    "We recorded the vocals in a small room, close to the microphone."

(cd "$out" && sha256sum dry/*.wav content/*.wav) >"$work/SHA256SUMS"
if ((check)); then
    if diff -u assets/audio/SHA256SUMS "$work/SHA256SUMS"; then
        echo "make_clips: regenerated clips match assets/audio/SHA256SUMS"
    else
        echo "make_clips: regenerated clips differ from assets/audio/SHA256SUMS (different tool versions?)" >&2
        exit 1
    fi
else
    cp "$work/SHA256SUMS" assets/audio/SHA256SUMS
    echo "make_clips: wrote $(wc -l <assets/audio/SHA256SUMS) clips to assets/audio/{dry,content}/"
fi
