# Sourced by scripts/cross_aarch64.sh and scripts/count_instructions.sh: the environment that
# cross-builds for aarch64-unknown-linux-gnu against Debian's arm64 (multiarch) libraries and
# runs the results under qemu-aarch64. Assumes the tools are installed (cross_aarch64.sh does).
TRIPLE=aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
# pkg-config finds the arm64 .pc files (and only those) for the cross build. The variables are
# scoped to the target (the pkg-config crate reads VAR_<target> first), so host builds in the
# same shell (build scripts, the x86-64 binary the checks compare with) still link x86-64.
export PKG_CONFIG_ALLOW_CROSS_aarch64_unknown_linux_gnu=1
export PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
# Cross-built programs run under qemu with / as the sysroot: the arm64 loader and the arm64
# libjack/liblilv live in Debian's multiarch paths. cargo test/run use this runner.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /"
QEMU=(qemu-aarch64 -L /)
