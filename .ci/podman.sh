#!/usr/bin/env bash
# A private rootful Podman engine for hearth's tests: `podman system service` on a temporary
# socket, with its own storage root, run root, network config and containers.conf, so that
# nothing of the machine's own Podman setup is read or changed.
#
#   eval "$(bash .ci/podman.sh start [DIR])"   # prints export lines: HEARTH_PODMAN_DIR,
#                                              # HEARTH_PODMAN_HOST (unix://DIR/podman.sock)
#                                              # With CONTAINERS_REGISTRIES_CONF=FILE set, the
#                                              # service reads a copy of FILE as its
#                                              # registries.conf (e.g. an insecure entry for a
#                                              # loopback test registry) instead of the default.
#   bash .ci/podman.sh load IMAGE [DIR]        # copy an image from Docker (docker save | load)
#   bash .ci/podman.sh podman [DIR] -- ARGS    # the podman CLI on the private root
#   bash .ci/podman.sh stop [DIR]              # remove every object, stop the service by its
#                                              # PID, delete DIR
#
# DIR defaults to $HEARTH_PODMAN_DIR. Needs (Debian): podman catatonit runc uidmap.
set -euo pipefail

cmd="${1:-}"
shift || true

# Bounds, in seconds: the service answering after start, and stopping after SIGTERM.
START_WAIT=30
STOP_WAIT=20

die() { echo "podman.sh: $*" >&2; exit 1; }

# The podman CLI pointed at DIR's private configuration and storage.
pm() {
  local dir="$1"; shift
  CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_STORAGE_CONF="$dir/storage.conf" \
    CONTAINERS_REGISTRIES_CONF="$dir/registries.conf" \
    podman --root "$dir/root" --runroot "$dir/runroot" "$@"
}

write_config() {
  local dir="$1"
  mkdir -p "$dir/root" "$dir/runroot" "$dir/networks" "$dir/tmp"
  # cgroupfs and a file events log: no systemd is needed (CI machines and sandboxes often
  # run without it). runc, not Debian's default crun: crun 1.8 refuses to run on a hybrid
  # cgroup host (v1 controllers plus an empty v2 mount), which is what CI machines have.
  cat >"$dir/containers.conf" <<EOF
[containers]
init_path = "$(command -v catatonit || echo /usr/bin/catatonit)"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
runtime = "runc"
tmp_dir = "$dir/tmp"
static_dir = "$dir/root/libpod"
volume_path = "$dir/root/volumes"
num_locks = 2048

[network]
network_backend = "netavark"
network_config_dir = "$dir/networks"
EOF
  cat >"$dir/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$dir/root"
runroot = "$dir/runroot"
EOF
  # No registry is reachable in CI; images come from the local Docker engine, unless the
  # caller hands a registries.conf of its own (a test's loopback registry).
  if [[ -n "${CONTAINERS_REGISTRIES_CONF:-}" ]]; then
    [[ -f "$CONTAINERS_REGISTRIES_CONF" ]] ||
      die "CONTAINERS_REGISTRIES_CONF=$CONTAINERS_REGISTRIES_CONF is not a file"
    cp "$CONTAINERS_REGISTRIES_CONF" "$dir/registries.conf"
    return
  fi
  cat >"$dir/registries.conf" <<EOF
unqualified-search-registries = []
EOF
}

answers() {
  local dir="$1"
  curl -sf --max-time 2 --unix-socket "$dir/podman.sock" http://d/_ping >/dev/null 2>&1
}

start() {
  local dir="${1:-}"
  for tool in podman catatonit runc curl; do
    command -v "$tool" >/dev/null ||
      die "$tool is not installed (Debian: apt-get install -y podman catatonit runc uidmap)"
  done
  [[ "$(id -u)" == 0 ]] || die "the service runs rootful: run as root"
  if [[ -z "$dir" ]]; then
    dir="$(mktemp -d /tmp/hearth-podman.XXXXXX)"
  fi
  mkdir -p "$dir"
  write_config "$dir"
  # --time=0: the service never exits on its own; it is stopped by its PID.
  CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_STORAGE_CONF="$dir/storage.conf" \
    CONTAINERS_REGISTRIES_CONF="$dir/registries.conf" \
    setsid podman --root "$dir/root" --runroot "$dir/runroot" \
    system service --time=0 "unix://$dir/podman.sock" >"$dir/service.log" 2>&1 </dev/null &
  echo $! >"$dir/service.pid"
  local deadline=$((SECONDS + START_WAIT))
  until answers "$dir"; do
    if ! kill -0 "$(cat "$dir/service.pid")" 2>/dev/null; then
      tail -n 30 "$dir/service.log" >&2 || true
      die "podman system service exited before it answered (log above)"
    fi
    ((SECONDS < deadline)) || {
      tail -n 30 "$dir/service.log" >&2
      die "podman system service did not answer within ${START_WAIT}s"
    }
    sleep 0.2
  done
  echo "export HEARTH_PODMAN_DIR=$dir"
  echo "export HEARTH_PODMAN_HOST=unix://$dir/podman.sock"
}

load() {
  local image="$1" dir="${2:-${HEARTH_PODMAN_DIR:-}}"
  [[ -n "$dir" ]] || die "load: no DIR and HEARTH_PODMAN_DIR is unset"
  docker image inspect "$image" >/dev/null 2>&1 || die "load: Docker has no image $image (run make images)"
  docker save "$image" | pm "$dir" load -q >/dev/null
  # Podman names it localhost/IMAGE and resolves the short name Docker uses to it.
  pm "$dir" image exists "$image" || die "load: $image is not in the private root after load"
}

stop() {
  local dir="${1:-${HEARTH_PODMAN_DIR:-}}"
  [[ -n "$dir" && -d "$dir" ]] || return 0
  if [[ -f "$dir/root/libpod/bolt_state.db" || -d "$dir/root/overlay" ]]; then
    pm "$dir" rm -a -f -t 2 >/dev/null 2>&1 || true
    pm "$dir" pod rm -a -f >/dev/null 2>&1 || true
    pm "$dir" network prune -f >/dev/null 2>&1 || true
    pm "$dir" volume prune -f >/dev/null 2>&1 || true
  fi
  if [[ -f "$dir/service.pid" ]]; then
    local pid
    pid="$(cat "$dir/service.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      timeout "$STOP_WAIT" tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  # Overlay mounts of the private root must go before the directory can.
  local mounts
  mounts="$(grep -o " $dir/[^ ]*" /proc/mounts 2>/dev/null | sort -r || true)"
  for m in $mounts; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$dir"
}

case "$cmd" in
  start) start "${1:-}" ;;
  load) [[ $# -ge 1 ]] || die "usage: load IMAGE [DIR]"; load "$@" ;;
  podman)
    dir="${HEARTH_PODMAN_DIR:-}"
    if [[ $# -gt 0 && "$1" != "--" ]]; then dir="$1"; shift; fi
    [[ "${1:-}" == "--" ]] && shift
    [[ -n "$dir" ]] || die "podman: no DIR and HEARTH_PODMAN_DIR is unset"
    pm "$dir" "$@"
    ;;
  stop) stop "${1:-}" ;;
  *) die "usage: $0 start [DIR] | load IMAGE [DIR] | podman [DIR] -- ARGS | stop [DIR]" ;;
esac
