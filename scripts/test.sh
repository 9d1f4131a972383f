#!/usr/bin/env bash
# Runs every check CI runs, on a fresh machine: formatting, lints, docs, the whole test suite
# (Redis tests included: they start their own redis-server), doctests, and a build of the benches.
set -euo pipefail
cd "$(dirname "$0")/.."

# The build directory of a full run stays small (about a third of a default build): no incremental
# state, which a full run does not reuse, and line tables only, as the workspace's dev profile
# says, for trybuild's builds too (they do not read the workspace's profiles). Some CI machines
# build on a small disk or in memory.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"

# The Redis tests start redis-server themselves (and redis-cli for a cluster); the TLS test makes its certificates with openssl.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# redis-cli makes the cluster of the Redis Cluster tests (Debian's redis-tools, a dependency of
# redis-server).
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} from Debian's packages"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
redis-server --version

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "== cargo doc (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet
echo "== cargo test (all tests and doctests, all features)"
cargo test --workspace --all-features
echo "== cargo test (default features: the in-memory build alone)"
cargo test -p cache-runtime
echo "== cargo check (feature redis without redis-tls: Redis with no TLS crates)"
cargo check -p cache-runtime --features redis
echo "== cargo bench --no-run (the benches build)"
cargo bench --workspace --no-run --quiet
echo "== the quick start runs"
cargo run --quiet --example quickstart
