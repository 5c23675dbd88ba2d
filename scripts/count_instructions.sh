#!/usr/bin/env bash
# Count instructions (not seconds: emulated time means nothing) for fixed units of work, on
# aarch64 under qemu with an instruction-count plugin (Cortex-A72 as in the Pi 4, Cortex-A76 as
# in the Pi 5) and on x86-64 with valgrind's callgrind:
#   - one 64-frame stereo block of the default chain (all effects active, mid settings);
#   - one style embedding of a 3 s stereo segment: encoder float32, encoder int8, MFCC.
# Each unit is counted by the difference method: the example `work_units` runs N1 and N2 units,
# (I2 - I1) / (N2 - N1) cancels start-up and model loading.
#
# Usage: bash scripts/count_instructions.sh       (table on stdout and in out/instructions/)
#
# Needs qemu's plugin header, which Debian ships only in qemu's source package: the script
# enables deb-src for Debian 12 if needed, downloads the source with `apt-get source
# --download-only qemu` into out/instructions/qemu-src and extracts qemu-plugin.h alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
work=$root/out/instructions
mkdir -p "$work"
say() { echo "count_instructions: $*"; }
die() { echo "count_instructions: error: $*" >&2; exit 1; }

bash scripts/cross_aarch64.sh --build-only >/dev/null
bash scripts/setup.sh valgrind dpkg-dev xz-utils
# shellcheck source=scripts/aarch64_env.sh
source scripts/aarch64_env.sh
target_dir=${CARGO_TARGET_DIR:-$root/target}

# --- the qemu plugin ----------------------------------------------------------------------------
qemu_version=$(dpkg-query -W -f='${source:Version}' qemu-user) # the source's version (no binNMU suffix)
header=$work/qemu-plugin-$qemu_version/qemu-plugin.h
if [[ ! -f $header ]]; then
    if ! grep -rqs "^Types:.*deb-src" /etc/apt/sources.list.d/ && ! grep -qs "^deb-src" /etc/apt/sources.list; then
        say "enabling Debian 12 source packages (deb-src) for qemu's plugin header"
        cat > /etc/apt/sources.list.d/debian-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -q >/dev/null
    fi
    mkdir -p "$work/qemu-src"
    (cd "$work/qemu-src" && apt-get source --download-only -q "qemu=$qemu_version" >/dev/null) ||
        die "cannot download qemu's source package $qemu_version (apt-get source); no aarch64 counts"
    orig=$(ls "$work"/qemu-src/qemu_*.orig.tar.* | head -1)
    mkdir -p "$(dirname "$header")"
    tar -xf "$orig" -C "$work/qemu-src" --wildcards '*/include/qemu/qemu-plugin.h'
    cp "$(find "$work/qemu-src" -name qemu-plugin.h | head -1)" "$header"
fi
plugin=$work/qemu_insn_count.so
gcc -shared -fPIC -O2 -Wall -Werror -I "$(dirname "$header")" tools/qemu_insn_count.c -o "$plugin"

# --- the work units -----------------------------------------------------------------------------
cargo build --release --example work_units
cargo build --release --target "$TRIPLE" --example work_units
x86_bin=$target_dir/release/examples/work_units
arm_bin=$target_dir/$TRIPLE/release/examples/work_units

count_qemu() { # CPU ARGS...: instructions of one run on aarch64
    local cpu=$1
    shift
    "${QEMU[@]}" -cpu "$cpu" -plugin "$plugin,out=$work/count.txt" "$arm_bin" "$@" >/dev/null
    cat "$work/count.txt"
}
count_callgrind() { # ARGS...: instructions of one run on x86-64 (callgrind's Ir total)
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" "$x86_bin" "$@" >/dev/null 2>&1
    awk '/^(summary|totals):/ {print $2; exit}' "$work/callgrind.out"
}

# unit name | N1 | N2 | work_units arguments (% is the number of units)
units=(
    "chain block (64 frames)|2000|12000|chain-blocks %"
    "encoder f32, 3 s|1|4|embed % $root/models/encoder.onnx"
    "encoder int8, 3 s|1|3|embed % $root/models/encoder-int8.onnx"
    "MFCC, 3 s|2|8|embed % mfcc"
)
report=$work/instructions.md
{
    echo "| unit | aarch64 Cortex-A72 (qemu) | aarch64 Cortex-A76 (qemu) | x86-64 (callgrind) |"
    echo "|---|---|---|---|"
} > "$report"
for u in "${units[@]}"; do
    IFS='|' read -r name n1 n2 argline <<< "$u"
    row="| $name |"
    for counter in a72 a76 x86; do
        counts=()
        for n in "$n1" "$n2"; do
            read -r -a args <<< "${argline/\%/$n}"
            case $counter in
                a72) counts+=("$(count_qemu cortex-a72 "${args[@]}")") ;;
                a76) counts+=("$(count_qemu cortex-a76 "${args[@]}")") ;;
                x86) counts+=("$(count_callgrind "${args[@]}")") ;;
            esac
        done
        per=$(python3 -c "import sys; a,b,n1,n2=map(int,sys.argv[1:]); print(f'{(b-a)/(n2-n1):,.0f}')" \
            "${counts[0]}" "${counts[1]}" "$n1" "$n2")
        say "$name, $counter: $per instructions per unit (runs of $n1 and $n2 units: ${counts[*]})"
        row="$row $per |"
    done
    echo "$row" >> "$report"
done
say "qemu $qemu_version TCG plugin (guest instructions); valgrind $(valgrind --version) callgrind Ir"
cat "$report"
