#!/usr/bin/env bash
# Everything `make test` needs beyond cargo and a Docker engine, written once. The Makefile
# calls it; CI (.ci/run) adds nothing to it.
#
#   bash .ci/tools.sh install [GROUP...]  # make tools: what GROUPs drive, installed if missing
#                                         # (default: lint docs test python). Fails at once,
#                                         # naming the packages and the command, when it cannot.
#   bash .ci/tools.sh check [GROUP...]    # the same check; installs nothing, exits 1 if short
#   bash .ci/tools.sh preflight           # root, an engine that answers and is no swarm worker
#   bash .ci/tools.sh run -- CMD [ARG...] # CMD with every engine the suites use: the Docker
#                                         # engine a single-node swarm manager (made for the
#                                         # run if it is in no swarm, left after only if a
#                                         # run made it), a private Podman service with the
#                                         # test image loaded, and HEARTH_SWARM=1
#                                         # HEARTH_PODMAN=1 HEARTH_CLUSTER=1 set so no suite
#                                         # skips (the multi-node swarm suite makes its own
#                                         # private engines, as root). Whatever it
#                                         # starts is stopped on exit, failure and Ctrl-C too.
#                                         # HEARTH_SWARM=0: no swarm.
#
# Groups: lint (the C++ compiler libFuzzer needs), docs (mdbook, for make docs), test (the
# Debian packages below and cargo-deb), deb (cargo-deb alone, for make deb), python (what
# make python's venv needs; a command `py:MODULE` means "python3 can import MODULE").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO="${CARGO:-cargo}"
CARGO_DEB_VERSION=3.8.0
# The newest mdbook whose rust-version (1.82) is within the workspace's (1.85).
MDBOOK_VERSION=0.4.52
# The Kubernetes schema validator the kustomize tests run (PyPI; it ships the schemas, so it
# runs offline), in a venv under the target dir (hearth/tests/kustomize.rs finds it there).
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBERNETES_VALIDATE_VENV="${CARGO_TARGET_DIR:-target}/kubernetes-validate"
# Bounds, in seconds: waiting for another run's swarm set-up or tear-down; swarm init/leave.
SWARM_LOCK_WAIT=300
SWARM_CALL=60

die() { printf 'tools: %s\n' "$*" >&2; exit 1; }
say() { printf 'tools: %s\n' "$*"; }

# What each group drives, as "command package" (a command may be an absolute path). The page's
# browser test runs chromium through chromedriver (CHROMIUM / CHROMEDRIVER point elsewhere);
# the registry tests run Debian's docker-registry (distribution 2.8) on loopback with an
# htpasswd file from apache2-utils; Podman is the second real engine (.ci/podman.sh): runc
# (crun 1.8 refuses hybrid cgroup hosts), catatonit for --init, netavark and aardvark-dns for
# its networks, uidmap for its user namespaces; the packaging test runs hearth under
# systemd-socket-activate and builds the .deb with dpkg-deb; make images builds
# hearth-busybox:local from Debian's busybox-static (/bin/busybox); the kustomize tests render
# manifests with kubectl kustomize (kubernetes-client) and validate them with
# kubernetes-validate in a venv (python3-venv).
apt_needs() {
  case "$1" in
    lint) echo "c++ g++" ;;
    test)
      cat <<EOF
${CHROMIUM:-/usr/bin/chromium} chromium
${CHROMEDRIVER:-/usr/bin/chromedriver} chromium-driver
docker-registry docker-registry
htpasswd apache2-utils
podman podman
catatonit catatonit
runc runc
/usr/lib/podman/netavark netavark
/usr/lib/podman/aardvark-dns aardvark-dns
newuidmap uidmap
systemd-socket-activate systemd
dpkg-deb dpkg
curl curl
/bin/busybox busybox-static
kubectl kubernetes-client
EOF
      ;;
    # make python's venv (python/pytest-hearth): Debian's python3 has venv and ensurepip only
    # with python3-venv.
    python) echo "py:ensurepip python3-venv" ;;
    deb | docs) ;;
    *) die "unknown group '$1' (lint, docs, test, deb or python)" ;;
  esac
}

# The Debian packages of GROUPs whose command is missing, one per line.
missing_packages() {
  local group cmd pkg
  for group in "$@"; do
    while read -r cmd pkg; do
      [[ -n "$cmd" ]] || continue
      if [[ "$cmd" == py:* ]]; then
        "${PYTHON:-python3}" -c "import ${cmd#py:}" 2>/dev/null && continue
      elif [[ "$cmd" == /* ]]; then [[ -x "$cmd" ]] && continue; else command -v "$cmd" >/dev/null && continue; fi
      echo "$pkg"
    done < <(apt_needs "$group")
  done | sort -u
}

# The prefix that makes a command run as root: nothing for root, `sudo -n` where it works.
as_root() {
  if [[ "$(id -u)" == 0 ]]; then return 0; fi
  command -v sudo >/dev/null && sudo -n true 2>/dev/null && { echo "sudo -n"; return 0; }
  return 1
}

# Installs Debian packages: one apt-get update, no recommends, no service started meanwhile
# (a policy-rc.d for the duration, unless the machine has one), the registry's own service
# (it would listen on :5000 on every interface) disabled for good.
apt_install() {
  local pkgs=("$@") hint root policy=/usr/sbin/policy-rc.d made_policy=""
  hint="sudo apt-get update && sudo apt-get install -y --no-install-recommends ${pkgs[*]}"
  command -v apt-get >/dev/null || die "missing: ${pkgs[*]} (Debian package names), and this machine has no apt-get; install their equivalents, then run make test again"
  root="$(as_root)" || die "missing: ${pkgs[*]}; installing them needs root (or sudo -n without a password): run $hint"
  read -r -a root <<<"$root"
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${root[@]}" tee "$policy" >/dev/null && "${root[@]}" chmod 755 "$policy"
    made_policy=1
  fi
  local status=0
  say "installing ${pkgs[*]} (apt-get update, then apt-get install)"
  "${root[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq || status=$?
  if [[ $status == 0 ]]; then
    local pkg unknown=()
    for pkg in "${pkgs[@]}"; do
      LC_ALL=C apt-cache policy "$pkg" 2>/dev/null | grep 'Candidate: [^(]' >/dev/null || unknown+=("$pkg")
    done
    if ((${#unknown[@]})); then
      [[ -z "$made_policy" ]] || "${root[@]}" rm -f "$policy"
      die "no installable package ${unknown[*]} in this machine's apt sources: add a Debian 12 (or newer) source, or install it by hand; then: $hint"
    fi
    "${root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
      "${pkgs[@]}" >/dev/null || status=$?
  fi
  [[ -z "$made_policy" ]] || "${root[@]}" rm -f "$policy"
  [[ $status == 0 ]] || die "apt-get failed (status $status) installing ${pkgs[*]}: run $hint and read its error"
  if [[ " ${pkgs[*]} " == *" docker-registry "* ]]; then
    "${root[@]}" systemctl disable docker-registry >/dev/null 2>&1 || true
    "${root[@]}" update-rc.d docker-registry disable >/dev/null 2>&1 || true
  fi
}

# The kubernetes-validate venv, made and filled when its command is missing.
venv_tool() {
  local bin="$KUBERNETES_VALIDATE_VENV/bin/kubernetes-validate"
  [[ -x "$bin" ]] && return 0
  say "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION (pip, in a venv at $KUBERNETES_VALIDATE_VENV)"
  if ! python3 -m venv "$KUBERNETES_VALIDATE_VENV" 2>/dev/null; then
    rm -rf "$KUBERNETES_VALIDATE_VENV"
    apt_install python3-venv
    python3 -m venv "$KUBERNETES_VALIDATE_VENV" ||
      die "python3 -m venv $KUBERNETES_VALIDATE_VENV failed even with python3-venv installed"
  fi
  "$KUBERNETES_VALIDATE_VENV/bin/pip" install --quiet "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" ||
    die "pip install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION failed (in $KUBERNETES_VALIDATE_VENV)"
}

# `cargo install`s the crate CMD comes from when CMD is missing.
cargo_tool() {
  local cmd="$1" crate="$2" version="$3"
  shift 3
  command -v "$cmd" >/dev/null && return 0
  say "installing $crate $version (cargo install, a few minutes)"
  "$CARGO" install "$crate" --locked --version "$version" --quiet "$@" ||
    die "cargo install $crate --locked --version $version $* failed"
}

install() {
  local groups=("$@") group
  ((${#groups[@]})) || groups=(lint docs test python)
  local missing
  mapfile -t missing < <(missing_packages "${groups[@]}")
  if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
  mapfile -t missing < <(missing_packages "${groups[@]}")
  ((${#missing[@]} == 0)) || die "still missing after apt-get: ${missing[*]}"
  for group in "${groups[@]}"; do
    case "$group" in
      test | deb) cargo_tool cargo-deb cargo-deb "$CARGO_DEB_VERSION" ;;
      docs) cargo_tool mdbook mdbook "$MDBOOK_VERSION" --no-default-features ;;
    esac
    [[ "$group" != test ]] || venv_tool
  done
  say "ready: ${groups[*]}"
}

check() {
  local groups=("$@") missing group
  ((${#groups[@]})) || groups=(lint docs test python)
  mapfile -t missing < <(missing_packages "${groups[@]}")
  for group in "${groups[@]}"; do
    case "$group" in
      test | deb) command -v cargo-deb >/dev/null || missing+=("cargo-deb (cargo install)") ;;&
      test) [[ -x "$KUBERNETES_VALIDATE_VENV/bin/kubernetes-validate" ]] || missing+=("kubernetes-validate (pip, in $KUBERNETES_VALIDATE_VENV)") ;;
      docs) command -v mdbook >/dev/null || missing+=("mdbook (cargo install)") ;;
    esac
  done
  ((${#missing[@]} == 0)) || die "missing: ${missing[*]} (make tools installs them)"
  say "nothing missing for: ${groups[*]}"
}

source .ci/swarm.sh

# The private Podman service of this run: started, the test image loaded, stopped on exit.
podman_dir=""
stop_podman() {
  [[ -z "$podman_dir" ]] || bash .ci/podman.sh stop "$podman_dir" || true
  podman_dir=""
}
start_podman() {
  local image="${HEARTH_TEST_IMAGE:-hearth-standin:local}" env
  env="$(bash .ci/podman.sh start)" || die "the private Podman service did not start (.ci/podman.sh start)"
  eval "$env"
  podman_dir="$HEARTH_PODMAN_DIR"
  bash .ci/podman.sh load "$image" || die "could not load $image into the Podman service"
  export HEARTH_PODMAN=1 HEARTH_PODMAN_HOST HEARTH_PODMAN_DIR
  say "podman $(podman --version | awk '{print $3}') at $HEARTH_PODMAN_HOST with $image"
}

# What `run` needs that no install gives, checked before make test builds anything: root
# (for the Podman services) and an engine that answers and is no swarm worker.
preflight() {
  [[ "$(id -u)" == 0 ]] ||
    die "the Podman suites run rootful private Podman services: run make test as root (sudo -E make test), or make test-quick for the tests that need no engine"
  timeout 20 docker info >/dev/null 2>&1 ||
    die "no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}: start it (sudo systemctl start docker, or sudo dockerd &)"
  local state
  state="$(swarm_state)"
  [[ "$state" == "active true" || "$state" == "inactive false" ]] ||
    die "the engine is in a swarm but not as its manager ($state): the Swarm suites need a manager (docker swarm leave, or run on a manager)"
}

run() {
  [[ "${1:-}" == "--" ]] && shift
  (($#)) || die "usage: $0 run -- CMD [ARG...]"
  preflight
  trap 'stop_podman; swarm_release' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # HEARTH_SWARM=0 runs CMD without a swarm (the play on Podman, where Swarm is not asked).
  if [[ "${HEARTH_SWARM:-}" != 0 ]]; then
    swarm_acquire
    export HEARTH_SWARM=1
  fi
  start_podman
  # preflight made sure of root: the multi-node suite (hearth/tests/cluster.rs) can run, so it
  # must.
  export HEARTH_CLUSTER=1
  local status=0
  "$@" || status=$?
  return "$status"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  install) install "$@" ;;
  check) check "$@" ;;
  preflight) preflight ;;
  run) run "$@" ;;
  *) die "usage: $0 install [GROUP...] | check [GROUP...] | preflight | run -- CMD [ARG...]" ;;
esac
