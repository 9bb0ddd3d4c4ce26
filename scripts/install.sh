#!/usr/bin/env bash
# Builds a release sluice and installs it as ~/.local/bin/sluice (or PREFIX/bin/sluice), reusing the
# build cache the demo and tests use. The first release build takes about 25 minutes on 2 cores
# (DataFusion and Ballista are large); later ones rebuild only what changed.
#
#   scripts/install.sh                 # ~/.local/bin/sluice
#   PREFIX=/usr/local scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${PREFIX:-$HOME/.local}"
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
if mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
fi
echo "building a release sluice (about 25 minutes on 2 cores the first time) ..." >&2
start=$(date +%s)
cargo install --locked --quiet --path . --bin sluice --root "$PREFIX" --force
echo "installed $PREFIX/bin/sluice ($("$PREFIX/bin/sluice" --version)) in $(( $(date +%s) - start )) s" >&2
case ":$PATH:" in
  *":$PREFIX/bin:"*) ;;
  *) echo "add it to your PATH: export PATH=\"$PREFIX/bin:\$PATH\"" >&2 ;;
esac
