#!/bin/bash
# Builds sockwatch's packages into dist/: the .deb always, and the .rpm too.
#
#   packaging/build.sh
#
# It installs what it lacks: cargo-deb and cargo-generate-rpm (from crates.io,
# pinned), and dpkg-dev for dpkg-shlibdeps where apt-get is available. The
# release binary, the shell completions (generated from the same clap
# definitions as --help) and the packages are all made from this checkout; the
# man pages are the checked-in ones, which tests/man.rs keeps equal to what the
# generator makes.
set -euo pipefail

CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dist=$root/dist
mkdir -p "$dist"

say() { printf 'build.sh: %s\n' "$*" >&2; }

need_cargo_tool() { # binary crate version
	if ! command -v "$1" >/dev/null || ! "$1" --version 2>/dev/null | grep -q "$3"; then
		say "installing $2 $3"
		cargo install --locked --quiet "$2" --version "$3"
	fi
}

need_cargo_tool cargo-deb cargo-deb "$CARGO_DEB_VERSION"
need_cargo_tool cargo-generate-rpm cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION"
if ! command -v dpkg-shlibdeps >/dev/null && command -v apt-get >/dev/null; then
	say "installing dpkg-dev (dpkg-shlibdeps works out the library dependencies)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q dpkg-dev >/dev/null
fi

say "building the release binary"
cargo build --release --locked --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target_dir/release/sockwatch

# Completions go where the package metadata (Cargo.toml) looks for them: under
# this checkout's target/, whatever CARGO_TARGET_DIR says.
completions=$root/target/packaging/completions
mkdir -p "$completions"
for shell in bash zsh fish; do
	"$bin" generate "$shell" --out-dir "$completions" >/dev/null
done

say "building the .deb"
cargo deb --no-build --locked --output "$dist" >/dev/null
say "building the .rpm"
cargo generate-rpm --output "$dist" >/dev/null

ls -l "$dist"
