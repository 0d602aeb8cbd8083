# A single-node swarm for the runs of .ci/tools.sh (sourced by it; not run on its own).
#
# Several test runs may share one engine (two CI jobs on a runner, two people on a machine),
# so the swarm is counted, not owned: every run holds a shared lock on a file named after the
# engine for as long as it uses the swarm. The first run to find the engine in no swarm makes
# one and writes its cluster id to a marker beside the lock; the last run out (the one that
# can then take the lock exclusively) leaves the swarm if, and only if, the marker names the
# swarm the engine is in. A swarm made by anyone else is never left.

swarm_lock_fd=""
swarm_base=""

swarm_state() { docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'; }
swarm_cluster() { docker info --format '{{.Swarm.Cluster.ID}}' 2>/dev/null || true; }

# Runs "$@" holding the set-up mutex (init, leave and the marker change only under it).
swarm_mutex() {
  (
    flock -w "$SWARM_LOCK_WAIT" 9 || die "waited ${SWARM_LOCK_WAIT}s for another run's swarm set-up ($swarm_base.mutex)"
    "$@"
  ) 9>"$swarm_base.mutex"
}

swarm_init_if_none() {
  local state
  state="$(swarm_state)"
  case "$state" in
    "active true") say "the engine is a swarm manager already" ;;
    "inactive false")
      local gwbridge=0
      docker network inspect docker_gwbridge >/dev/null 2>&1 || gwbridge=1
      timeout "$SWARM_CALL" docker swarm init --advertise-addr 127.0.0.1 >/dev/null ||
        die "docker swarm init --advertise-addr 127.0.0.1 failed"
      echo "$(swarm_cluster) $gwbridge" >"$swarm_base.made"
      say "made the engine a single-node swarm for the test runs; the last run out leaves it" ;;
    *) die "the engine is in a swarm but not as its manager ($state): the Swarm suites need a manager (docker swarm leave, or run on a manager)" ;;
  esac
}

swarm_leave_if_made() {
  [[ -f "$swarm_base.made" ]] || return 0
  local cluster gwbridge
  read -r cluster gwbridge <"$swarm_base.made" || true
  rm -f "$swarm_base.made"
  if [[ -z "$cluster" || "$cluster" != "$(swarm_cluster)" ]]; then
    return 0 # the marker is of a swarm that is gone; the engine's present one is not ours
  fi
  timeout "$SWARM_CALL" docker swarm leave --force >/dev/null 2>&1 && say "left the swarm a test run made" || true
  # The swarm's bridge to the host outlives the swarm; it goes too when the swarm made it.
  [[ "$gwbridge" != 1 ]] || docker network rm docker_gwbridge >/dev/null 2>&1 || true
}

swarm_acquire() {
  local engine
  engine="$(docker info --format '{{.ID}}' | tr -c 'A-Za-z0-9\n' '_')"
  swarm_base="${TMPDIR:-/tmp}/hearth-swarm-$engine"
  exec {swarm_lock_fd}>>"$swarm_base.lock"
  flock -s -w "$SWARM_LOCK_WAIT" "$swarm_lock_fd" ||
    die "waited ${SWARM_LOCK_WAIT}s for another run to finish leaving the swarm ($swarm_base.lock)"
  swarm_mutex swarm_init_if_none
}

# Drops this run's hold; the last one out leaves the swarm a run made.
swarm_release() {
  [[ -n "$swarm_lock_fd" ]] || return 0
  flock -u "$swarm_lock_fd"
  if flock -x -n "$swarm_lock_fd"; then
    swarm_mutex swarm_leave_if_made
  fi
  exec {swarm_lock_fd}>&-
  swarm_lock_fd=""
}
