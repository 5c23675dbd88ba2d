#!/usr/bin/env bash
# The daemon, end to end, with no sound card: a private `jackd -d dummy` server, `fxmatch daemon`
# as its client, the dry guitar clip looped into the daemon's inputs (sndfile-jackplay), a match
# against the crunch-room reference triggered over OSC (oscsend; replies read with oscdump), and
# recordings of the daemon's output before and after the match (jack_rec).
#
# Writes into out/demo/daemon/: before.wav, after.wav, osc.log (every OSC reply), result.json
# (the /fxmatch/result), daemon.log. Expects a release build and the reference library
# (scripts/demo.sh makes both; run that, it calls this).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=out/demo/daemon
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir=$(pwd)/$target_dir
fxmatch=$target_dir/release/fxmatch
osc_port=${OSC_PORT:-9000}
listen_port=${LISTEN_PORT:-9100}
seconds=4
export JACK_DEFAULT_SERVER=fxmatch-demo-$$

[[ -x $fxmatch ]] || { echo "daemon demo: build first (cargo build --release)" >&2; exit 1; }
[[ -f config/references/crunch-room.wav ]] || { echo "daemon demo: no reference library; run scripts/demo.sh" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out"

pids=()
cleanup() {
    # SIGTERM, not SIGKILL: jackd then leaves JACK's shared-memory registry clean.
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

jackd -n "$JACK_DEFAULT_SERVER" -d dummy -r 48000 -p 128 > "$out/jackd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do jack_lsp > /dev/null 2>&1 && break; sleep 0.1; done
jack_lsp > /dev/null 2>&1 || { echo "daemon demo: jackd did not start (see $out/jackd.log)" >&2; exit 1; }

# A config of its own, so the demo's state and presets stay in out/.
cat > "$out/daemon.toml" <<EOF
chain = "$(pwd)/config/chains/default.toml"
references = "$(pwd)/config/references"
state = "state"
default_reference = "crunch-room"

[osc]
port = $osc_port
EOF

oscdump -L "$listen_port" > "$out/osc.log" 2>&1 &
pids+=($!)
"$fxmatch" daemon --config "$out/daemon.toml" --backend jack > "$out/daemon.log" 2>&1 &
daemon_pid=$!
pids+=($daemon_pid)
for _ in $(seq 100); do jack_lsp 2>/dev/null | grep -q '^fxmatch:in_l' && break; sleep 0.1; done
jack_lsp 2>/dev/null | grep -q '^fxmatch:in_l' || { echo "daemon demo: the daemon did not join JACK (see $out/daemon.log)" >&2; exit 1; }
oscsend 127.0.0.1 "$osc_port" /fxmatch/subscribe i "$listen_port"

# The dry clip, looped, into the daemon.
sndfile-jackplay --loop=0 assets/audio/dry/guitar_clean.wav > "$out/jackplay.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do jack_lsp 2>/dev/null | grep -q '^sndfile-jackplay:out_2' && break; sleep 0.1; done
player=$(jack_lsp | grep -m1 -o '^[^:]*jackplay[^:]*' || true)
[[ -n $player ]] || { echo "daemon demo: the player did not join JACK (see $out/jackplay.log)" >&2; exit 1; }
jack_connect "$player:out_1" fxmatch:in_l
jack_connect "$player:out_2" fxmatch:in_r

# The audio thread's load while the daemon only plays (stats/reset, then /fxmatch/stats at the end
# of the stretch), and later while a match runs.
stats_line() {
    local n
    n=$(grep -c '/fxmatch/stats ' "$out/osc.log" || true)
    oscsend 127.0.0.1 "$osc_port" /fxmatch/stats
    for _ in $(seq 50); do (( $(grep -c '/fxmatch/stats ' "$out/osc.log" || true) > n )) && break; sleep 0.1; done
    grep '/fxmatch/stats ' "$out/osc.log" | tail -1
}
echo "daemon demo: recording ${seconds} s before the match"
oscsend 127.0.0.1 "$osc_port" /fxmatch/stats/reset
jack_rec -f "$out/before.wav" -d "$seconds" fxmatch:out_l fxmatch:out_r > /dev/null
stats_idle=$(stats_line)
oscsend 127.0.0.1 "$osc_port" /fxmatch/stats/reset

echo "daemon demo: /fxmatch/match crunch-room over OSC"
oscsend 127.0.0.1 "$osc_port" /fxmatch/match s crunch-room
for _ in $(seq 600); do grep -q '/fxmatch/result' "$out/osc.log" && break; sleep 0.1; done
result=$(grep -m1 '/fxmatch/result' "$out/osc.log" || true)
[[ -n $result ]] || { echo "daemon demo: no /fxmatch/result within 60 s (see $out/daemon.log)" >&2; exit 1; }
stats_match=$(stats_line)
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$daemon_pid/status")
# oscdump prints: TIMETAG /fxmatch/result fsfif SIMILARITY "REF" INPUT_SIMILARITY EVALUATIONS SECONDS
# oscdump prints: TIMETAG /fxmatch/stats hhhfiif BLOCKS OVERRUNS XRUNS PEAK CONNECTED RECONNECTS MEAN
python3 - "$result" "$stats_idle" "$stats_match" "$rss_kb" > "$out/result.json" <<'PY'
import json, shlex, sys
f = shlex.split(sys.argv[1])
f = f[f.index("/fxmatch/result") + 2:]

def load(line):
    s = shlex.split(line)
    s = s[s.index("/fxmatch/stats") + 2:]
    return {"blocks": int(s[0]), "overruns": int(s[1]), "xruns": int(s[2]),
            "peak_load": float(s[3]), "mean_load": float(s[6])}

print(json.dumps({"similarity": float(f[0]), "reference": f[1], "similarity_input": float(f[2]),
                  "evaluations": int(f[3]), "seconds_trigger_to_applied": float(f[4]),
                  "audio_thread_without_match": load(sys.argv[2]),
                  "audio_thread_during_match": load(sys.argv[3]),
                  "resident_memory_mb": round(int(sys.argv[4]) / 1024, 1)}, indent=2))
PY

sleep 0.5  # past the parameter ramp
echo "daemon demo: recording ${seconds} s after the match"
jack_rec -f "$out/after.wav" -d "$seconds" fxmatch:out_l fxmatch:out_r > /dev/null
echo "daemon demo: $(tr -d '\n ' < "$out/result.json")"
echo "daemon demo: wrote $out/before.wav, $out/after.wav, $out/result.json and $out/osc.log"
