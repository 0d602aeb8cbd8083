#!/usr/bin/env bash
# Builds the offline stand-in image hearth-standin:local (called by `make images`).
#
# A std-only static binary, copied into a build context under target/ with the Dockerfile,
# built by the legacy builder (no BuildKit, no registry, no network: FROM scratch pulls
# nothing). Idempotent: the image carries the binary's sha256 as a label, and a rebuild is
# skipped while the tag already holds that exact binary.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tag="${STANDIN_TAG:-hearth-standin:local}"
target="x86_64-unknown-linux-gnu"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin="$target_dir/$target/release/hearth-standin"
ctx="$target_dir/images/standin"

# The explicit --target keeps +crt-static off build scripts and proc-macros.
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --quiet --release --target "$target" -p hearth-standin \
  --manifest-path "$root/Cargo.toml"

sum="$(sha256sum "$bin" | cut -d' ' -f1)"
have="$(docker image inspect --format '{{ index .Config.Labels "dev.hearth.standin.sha256" }}' "$tag" 2>/dev/null || true)"
if [[ "$have" == "$sum" ]]; then
  echo "images: $tag is up to date (binary sha256 ${sum:0:12})"
  exit 0
fi

rm -rf "$ctx"
mkdir -p "$ctx"
cp "$bin" "$ctx/hearth-standin"
cp "$root/images/standin/Dockerfile" "$ctx/Dockerfile"

# The legacy builder prints a deprecation notice on newer clients; it is the builder that
# works with no network, so the notice is filtered out and anything else is kept.
log="$ctx/build.log"
if ! DOCKER_BUILDKIT=0 docker build --quiet --label "dev.hearth.standin.sha256=$sum" \
    -t "$tag" "$ctx" >"$log" 2>&1; then
  grep -v -i -e 'DEPRECATED' -e 'legacy builder' -e 'buildx' -e '^ *$' -e 'docs.docker.com/go/buildx' "$log" >&2 || true
  echo "images: docker build of $tag failed (full log: $log)" >&2
  exit 1
fi
echo "images: built $tag ($(docker image inspect --format '{{.Id}}' "$tag" | cut -c1-19), binary sha256 ${sum:0:12})"
