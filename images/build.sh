#!/usr/bin/env bash
# Builds the offline images (called by `make images`):
#   hearth-standin:local  — our std-only static HTTP server (images/standin/);
#   hearth-busybox:local  — Debian's busybox-static httpd (images/busybox/), software we did
#                           not write, for templates that must run someone else's server.
#
# Each is a FROM scratch image built from a context under target/ by the legacy builder (no
# BuildKit, no registry, no network: FROM scratch pulls nothing). Idempotent: each image
# carries the sha256 of what went into it as a label, and a rebuild is skipped while the tag
# already holds exactly that.
#
# IMAGES="standin" (or "busybox") builds only those; the default is every image.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
images=" ${IMAGES:-standin busybox} "
for want in $images; do
  case "$want" in
    standin | busybox) ;;
    *) echo "images: unknown image \"$want\" in IMAGES; hint: IMAGES=\"standin busybox\"" >&2; exit 1 ;;
  esac
done

# build_image TAG LABEL_KEY SUM CONTEXT_FILLER: skips when TAG's LABEL_KEY is SUM, else
# fills target/images/<name>/ with CONTEXT_FILLER and builds it.
build_image() {
  local tag="$1" key="$2" sum="$3" fill="$4"
  local name="${key#dev.hearth.}"
  name="${name%.sha256}"
  local ctx="$target_dir/images/$name"
  local have
  have="$(docker image inspect --format "{{ index .Config.Labels \"$key\" }}" "$tag" 2>/dev/null || true)"
  if [[ "$have" == "$sum" ]]; then
    echo "images: $tag is up to date (sha256 ${sum:0:12})"
    return 0
  fi
  rm -rf "$ctx"
  mkdir -p "$ctx"
  "$fill" "$ctx"
  # The legacy builder prints a deprecation notice on newer clients; it is the builder that
  # works with no network, so the notice is filtered out and anything else is kept.
  local log="$ctx/build.log"
  if ! DOCKER_BUILDKIT=0 docker build --quiet --label "$key=$sum" -t "$tag" "$ctx" >"$log" 2>&1; then
    grep -v -i -e 'DEPRECATED' -e 'legacy builder' -e 'buildx' -e '^ *$' -e 'docs.docker.com/go/buildx' "$log" >&2 || true
    echo "images: docker build of $tag failed (full log: $log)" >&2
    exit 1
  fi
  echo "images: built $tag ($(docker image inspect --format '{{.Id}}' "$tag" | cut -c1-19), sha256 ${sum:0:12})"
}

# --- hearth-standin:local: our std-only static server ----------------------------------
standin_bin="$target_dir/x86_64-unknown-linux-gnu/release/hearth-standin"

fill_standin() {
  cp "$standin_bin" "$1/hearth-standin"
  cp "$root/images/standin/Dockerfile" "$1/Dockerfile"
}

build_standin() {
  # The explicit --target keeps +crt-static off build scripts and proc-macros.
  RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --quiet --release --target x86_64-unknown-linux-gnu -p hearth-standin \
    --manifest-path "$root/Cargo.toml"
  # The label is the binary's sha256 (as it always was), so existing images stay cached.
  build_image "${STANDIN_TAG:-hearth-standin:local}" dev.hearth.standin.sha256 \
    "$(sha256sum "$standin_bin" | cut -d' ' -f1)" fill_standin
}

# --- hearth-busybox:local: Debian's busybox-static ------------------------------------
busybox_bin="${BUSYBOX:-/bin/busybox}"

fill_busybox() {
  mkdir -p "$1/rootfs/bin" "$1/rootfs/tmp"
  chmod 1777 "$1/rootfs/tmp"
  cp "$busybox_bin" "$1/rootfs/bin/busybox"
  # One link per applet, so `sh -c` in a template's command finds nc, sleep, cat, …
  local applet
  for applet in $("$busybox_bin" --list); do
    [[ "$applet" == busybox ]] || ln -s busybox "$1/rootfs/bin/$applet"
  done
  cp -r "$root/images/busybox/www" "$1/rootfs/www"
  cp "$root/images/busybox/Dockerfile" "$1/Dockerfile"
}

build_busybox() {
  if [[ ! -x "$busybox_bin" ]] || ldd "$busybox_bin" >/dev/null 2>&1; then
    echo "images: $busybox_bin is missing or not a static binary; hearth-busybox:local needs" >&2
    echo "        Debian's busybox-static: apt-get install busybox-static (or set BUSYBOX=)" >&2
    exit 1
  fi
  # The label covers everything that goes into the context: binary, Dockerfile and www/.
  local sum
  sum="$(cd "$root/images/busybox" && {
    sha256sum "$busybox_bin" Dockerfile
    find www -type f -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1)"
  build_image "${BUSYBOX_TAG:-hearth-busybox:local}" dev.hearth.busybox.sha256 "$sum" fill_busybox
}

[[ "$images" != *" standin "* ]] || build_standin
[[ "$images" != *" busybox "* ]] || build_busybox
