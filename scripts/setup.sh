#!/usr/bin/env bash
# Install the Debian packages fxmatch needs to build, test and run (Debian 12).
#
# Usage: scripts/setup.sh [EXTRA_PACKAGE...]
#
# Idempotent: only packages that are missing are installed, and `apt-get update` runs only when
# something is missing, so the already-set-up case is a fast no-op. Extra arguments are installed
# in addition to PACKAGES (scripts/make_clips.sh uses this for its own tools). No recommends; outside
# apt only one thing: pedalboard (PyPI), an independent VST3 host that tests/vst3_pedalboard.rs
# compares fxmatch's VST3 hosting with, into the venv .venv-vst3 (when missing; without network
# that test says it is skipped). cargo fetches crates itself. Prints a summary line.
set -euo pipefail

PACKAGES=(
    pkg-config          # build: finds system libraries
    sox                 # test/demo audio conversion and checks
    libjack-jackd2-dev  # build: JACK client (live daemon)
    jackd2              # run: JACK server
    liblo-tools         # OSC test tools (oscsend, oscdump)
    sndfile-tools       # demo: sndfile-jackplay plays a clip into the daemon over JACK
    liblilv-dev         # build: LV2 host library
    lilv-utils          # lv2ls, lv2info, lv2apply: inspect and run installed plugins (tests/lv2_plugins.rs)
    lv2-dev             # LV2 headers and specs; lv2_validate (checks the fxmatch.lv2 bundle)
    sordi               # RDF/Turtle checks of LV2 metadata
    mda-lv2             # LV2 plugins hosted in config/chains/mda.toml and tests/lv2_host.rs
    zam-plugins         # LV2 and VST3: config/chains/zam.toml, zam-vst3.toml (ZamEQ2, ZamCompX2, ZamDelay)
    swh-lv2
    x42-plugins
    lv2file             # renders LV2 plugins outside fxmatch: the unseen references of `fxmatch eval transfer`
    python3-venv        # training/analysis scripts run in a venv
)
PACKAGES+=("$@")

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: dpkg-query/apt-get not found; on a non-Debian system install the equivalents of: ${PACKAGES[*]}" >&2
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    # "install ok installed" (or "hold ok installed"); removed packages read "deinstall ok config-files".
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ $status != *" ok installed" ]]; then
        missing+=("$pkg")
    fi
done

# pedalboard for tests/vst3_pedalboard.rs, pinned; needs python3-venv (in PACKAGES).
PEDALBOARD=pedalboard==0.9.26
VENV_VST3="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv-vst3"
setup_pedalboard() {
    if "$VENV_VST3/bin/python" -c 'import pedalboard' >/dev/null 2>&1; then
        return
    fi
    if python3 -m venv "$VENV_VST3" && "$VENV_VST3/bin/pip" install -q "$PEDALBOARD"; then
        echo "setup: installed $PEDALBOARD into $VENV_VST3"
    else
        echo "setup: could not install $PEDALBOARD into $VENV_VST3 (no network?); tests/vst3_pedalboard.rs will say it is skipped" >&2
    fi
}

if ((${#missing[@]} == 0)); then
    echo "setup: nothing to do, all ${#PACKAGES[@]} packages already installed"
    setup_pedalboard
    exit 0
fi

apt_install=(apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}")

if ((EUID == 0)); then
    as_root=(env DEBIAN_FRONTEND=noninteractive)
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
else
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: not root and no sudo; as root run:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive ${apt_install[*]}" >&2
    exit 1
fi

# jackd2 asks whether to enable realtime priority; answer "no" up front so the install never
# blocks on a prompt (realtime limits can be set later with `dpkg-reconfigure jackd2`).
for pkg in "${missing[@]}"; do
    if [[ $pkg == jackd2 ]]; then
        echo "jackd2 jackd/tweak_rt_limits boolean false" | "${as_root[@]}" debconf-set-selections
    fi
done

"${as_root[@]}" apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null
"${as_root[@]}" "${apt_install[@]}"
echo "setup: installed ${#missing[@]} missing package(s): ${missing[*]}"
setup_pedalboard
