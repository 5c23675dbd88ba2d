#!/usr/bin/env bash
# Build the release artifacts: a Debian package (.deb, what Raspberry Pi OS installs) and a
# tarball of the same files, for x86-64 (amd64) and/or aarch64 (arm64).
#
# Usage: bash scripts/package.sh [amd64 | arm64 | all]     (default: amd64)
#
# Each artifact holds: /usr/bin/fxmatch; the LV2 bundle /usr/lib/lv2/fxmatch.lv2; the config
# /etc/fxmatch/{default.toml,chains,styles} (conffiles; state and references in /var/lib/fxmatch);
# the reference library /usr/share/fxmatch/references (copied to /var/lib/fxmatch/references on
# install, where the daemon may write its embedding caches and learned references); the models
# /usr/share/fxmatch/models (the default encoder is also built into the binary); the systemd units
# fxmatch.service and fxmatch-jackd.service with /etc/default/fxmatch-jackd; the docs.
# The package's postinst creates the system user `fxmatch` (group audio). Nothing is enabled
# or started: set the card in /etc/default/fxmatch-jackd, then
# `systemctl enable --now fxmatch-jackd fxmatch` (README, "Install on a Raspberry Pi").
#
# arm64 is cross-built by scripts/cross_aarch64.sh --build-only. Outputs: out/package/
# fxmatch_VERSION_ARCH.deb and fxmatch-VERSION-ARCH.tar.gz. Each is checked after it is made:
# unpacked, its binary run (under qemu for arm64), its files listed against what must be there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
target_dir=${CARGO_TARGET_DIR:-$root/target}

arches=()
case "${1:-amd64}" in
    amd64 | arm64) arches=("$1") ;;
    "") arches=(amd64) ;;
    all) arches=(amd64 arm64) ;;
    *) echo "usage: $0 [amd64 | arm64 | all]" >&2; exit 2 ;;
esac

say() { echo "package: $*"; }
die() { echo "package: error: $*" >&2; exit 1; }

bash scripts/setup.sh file
crate_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
commit=$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)
version="$crate_version+g$commit"
out=$root/out/package
mkdir -p "$out"

# The host binary renders the reference library (the render is the same on both architectures:
# scripts/cross_aarch64.sh checks it).
cargo build --release -p fxmatch --bin fxmatch
host_bin=$target_dir/release/fxmatch
refs=$out/references
rm -rf "$refs" && mkdir -p "$refs"
for style in config/styles/*.params.toml; do
    name=$(basename "$style" .params.toml)
    "$host_bin" render --chain config/chains/default.toml --params "$style" \
        assets/audio/content/guitar_acoustic.wav "$refs/$name.wav" >/dev/null
done

for arch in "${arches[@]}"; do
    case $arch in
        amd64)
            bin=$host_bin
            bash scripts/install_lv2.sh "$out/stage-lv2-$arch/fxmatch.lv2" >/dev/null
            run=()
            ;;
        arm64)
            bash scripts/cross_aarch64.sh --build-only
            bin=$target_dir/aarch64-unknown-linux-gnu/release/fxmatch
            rm -rf "$out/stage-lv2-$arch" && mkdir -p "$out/stage-lv2-$arch"
            cp -r out/aarch64/fxmatch.lv2 "$out/stage-lv2-$arch/"
            run=(qemu-aarch64 -L /)
            ;;
    esac
    stage=$out/stage-$arch
    rm -rf "$stage"
    install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/lib/lv2" "$stage/etc/fxmatch" \
        "$stage/etc/default" "$stage/lib/systemd/system" "$stage/usr/share/fxmatch/models" \
        "$stage/usr/share/doc/fxmatch"
    # The binary without its debug info (release keeps line tables for backtraces in development).
    strip_tool=strip
    [[ $arch == arm64 ]] && strip_tool=aarch64-linux-gnu-strip
    "$strip_tool" --strip-debug -o "$stage/usr/bin/fxmatch" "$bin"
    chmod 755 "$stage/usr/bin/fxmatch"
    cp -r "$out/stage-lv2-$arch/fxmatch.lv2" "$stage/usr/lib/lv2/"
    cp -r config/chains config/styles "$stage/etc/fxmatch/"
    # The bundled config, with state and references where the daemon's user may write.
    sed -e 's|^references = .*|references = "/var/lib/fxmatch/references"   # seeded from /usr/share/fxmatch/references|' \
        -e 's|^state = .*|state = "/var/lib/fxmatch"               # presets and state.toml|' \
        config/default.toml > "$stage/etc/fxmatch/default.toml"
    grep -q '^references = "/var/lib/fxmatch/references"' "$stage/etc/fxmatch/default.toml" ||
        die "config/default.toml has no 'references =' line to point at /var/lib/fxmatch"
    cp -r "$refs" "$stage/usr/share/fxmatch/references"
    cp models/*.onnx models/*.json models/README.md "$stage/usr/share/fxmatch/models/"
    cp systemd/fxmatch-jackd.default "$stage/etc/default/fxmatch-jackd"
    # The units under package names: a packaged "jackd.service" could clash with the system's.
    sed -e 's|/usr/local/bin/fxmatch|/usr/bin/fxmatch|' -e 's|jackd\.service|fxmatch-jackd.service|g' \
        systemd/fxmatch.service > "$stage/lib/systemd/system/fxmatch.service"
    cp systemd/jackd.service "$stage/lib/systemd/system/fxmatch-jackd.service"
    cp README.md docs/osc.md "$stage/usr/share/doc/fxmatch/"
    printf 'fxmatch %s\nLicense: MIT OR Apache-2.0\nModels: trained by the code in training/ (models/README.md).\n' \
        "$version" > "$stage/usr/share/doc/fxmatch/copyright"

    find "$stage/etc" -type f | sed "s|^$stage||" | sort > "$stage/DEBIAN/conffiles"
    size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
    cat > "$stage/DEBIAN/control" <<EOF
Package: fxmatch
Version: $version
Architecture: $arch
Maintainer: fxmatch developers <fxmatch@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.34), libgcc-s1, libjack-jackd2-0 | libjack-0.125, liblilv-0-0, jackd2, adduser
Section: sound
Priority: optional
Homepage: https://fxmatch.dev
Description: style-matching effects box (JACK daemon)
 Runs an effect chain (built-in effects, LV2 plugins) in real time on JACK; on a
 footswitch or an OSC message it records the live input and searches the chain's
 parameters so that the input takes on the production style of a stored reference.
 Headless: systemd units, OSC and MIDI/GPIO footswitch control.
EOF
    cat > "$stage/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    install -d -m 755 /var/lib/fxmatch
    if ! getent passwd fxmatch >/dev/null; then
        adduser --system --ingroup audio --home /var/lib/fxmatch --no-create-home \
            --gecos "fxmatch daemon" fxmatch >/dev/null
    fi
    install -d -o fxmatch -g audio -m 755 /var/lib/fxmatch /var/lib/fxmatch/references
    # Seed the reference library; never overwrite what the user changed or learned.
    for f in /usr/share/fxmatch/references/*.wav; do
        t=/var/lib/fxmatch/references/$(basename "$f")
        [ -e "$t" ] || install -o fxmatch -g audio -m 644 "$f" "$t"
    done
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null || true
    fi
    echo "fxmatch: set your sound card in /etc/default/fxmatch-jackd (aplay -l), then:"
    echo "  systemctl enable --now fxmatch-jackd fxmatch"
fi
exit 0
EOF
    cat > "$stage/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    systemctl stop fxmatch.service fxmatch-jackd.service >/dev/null 2>&1 || true
fi
exit 0
EOF
    cat > "$stage/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
    rm -rf /var/lib/fxmatch
    if getent passwd fxmatch >/dev/null; then deluser --system fxmatch >/dev/null 2>&1 || true; fi
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi
exit 0
EOF
    chmod 755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"

    deb=$out/fxmatch_${version}_$arch.deb
    tarball=$out/fxmatch-$version-$arch.tar.gz
    dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
    # The tarball: the same tree (install with `tar -C / -xzf`, then run install/postinst configure).
    rm -rf "$out/tar-$arch" && mkdir -p "$out/tar-$arch"
    cp -a "$stage/." "$out/tar-$arch/"
    mv "$out/tar-$arch/DEBIAN" "$out/tar-$arch/install"
    tar --owner=0 --group=0 -C "$out/tar-$arch" -czf "$tarball" .

    # Self-check: the package unpacks, holds what it must, and its binary runs.
    check=$out/check-$arch
    rm -rf "$check" && mkdir -p "$check"
    dpkg-deb -x "$deb" "$check"
    [[ $(dpkg-deb -f "$deb" Architecture) == "$arch" ]] || die "$deb: wrong architecture"
    for f in usr/bin/fxmatch usr/lib/lv2/fxmatch.lv2/manifest.ttl usr/lib/lv2/fxmatch.lv2/fxmatch_lv2.so \
        etc/fxmatch/default.toml etc/fxmatch/chains/default.toml etc/default/fxmatch-jackd \
        lib/systemd/system/fxmatch.service lib/systemd/system/fxmatch-jackd.service \
        usr/share/fxmatch/models/encoder.onnx usr/share/fxmatch/references/crunch-room.wav; do
        [[ -e $check/$f ]] || die "$deb lacks /$f"
    done
    want="x86-64"
    [[ $arch == arm64 ]] && want="ARM aarch64"
    for f in usr/bin/fxmatch usr/lib/lv2/fxmatch.lv2/fxmatch_lv2.so; do
        file "$check/$f" | grep -q "$want" || die "$deb: /$f is not $want"
    done
    "${run[@]}" "$check/usr/bin/fxmatch" --version >/dev/null || die "$deb: the binary does not run"
    # The packaged chain loads with the packaged binary (paths relative to /etc/fxmatch).
    "${run[@]}" "$check/usr/bin/fxmatch" chain show "$check/etc/fxmatch/chains/default.toml" >/dev/null ||
        die "$deb: the packaged default chain does not load"
    say "$(basename "$deb") ($(du -h "$deb" | cut -f1)), $(basename "$tarball") ($(du -h "$tarball" | cut -f1)): checked"
done
