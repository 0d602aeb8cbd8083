#!/usr/bin/env bash
# The packaging test: builds the .deb (`make deb`, from the debug build the tests already
# made), checks what it ships, unpacks it into a scratch root (`dpkg -x`) and runs the
# installed hearth the way hearth.socket runs it — under systemd-socket-activate, which
# speaks systemd's socket-activation protocol without systemd as PID 1:
#   - nothing runs until the first connection, and that first `healthz` is answered;
#   - a provision and a teardown work through the activated socket (Docker with
#     HEARTH_E2E=1, the stand-in image; the fake driver otherwise);
#   - the socket is kept at mode 0600 (the activator makes it 0644 under umask 022; hearth
#     tightens it), and hearth never unlinks the socket it did not create.
# Every engine object carries this run's label and is removed by the test, also on failure.
#
# Usage: bash packaging/deb-test.sh   (make deb-test; make test runs it when dpkg-deb exists)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

HEARTH_E2E="${HEARTH_E2E:-1}"
IMAGE="${HEARTH_TEST_IMAGE:-hearth-standin:local}"
TARGET="${CARGO_TARGET_DIR:-target}"

fail() { printf 'deb-test FAILED: %s\n' "$*" >&2; exit 1; }
step() { printf 'deb-test: %s\n' "$*"; }

for tool in dpkg-deb systemd-socket-activate curl; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (Debian: apt-get install -y dpkg systemd curl)"
done
if [[ "$HEARTH_E2E" == 1 ]]; then
  timeout 20 docker info >/dev/null 2>&1 || fail "HEARTH_E2E=1 but no Docker engine answers"
  docker image inspect "$IMAGE" >/dev/null 2>&1 || fail "image $IMAGE is absent (make images)"
fi

run="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
slug="deb-$run"
run_label="dev.hearth.test=deb-$run"
scratch="$(mktemp -d -t hearth-deb.XXXXXX)"
activator=""

cleanup() {
  local status=$?
  if [[ -n "$activator" ]] && kill -0 "$activator" 2>/dev/null; then
    kill -TERM "$activator" 2>/dev/null || true
    timeout 15 tail --pid="$activator" -f /dev/null 2>/dev/null || kill -KILL "$activator" 2>/dev/null || true
  fi
  if [[ "$HEARTH_E2E" == 1 ]]; then
    for c in $(docker ps -aq --filter "label=$run_label"); do docker rm -f -v "$c" >/dev/null || true; done
    for n in $(docker network ls -q --filter "label=$run_label"); do docker network rm "$n" >/dev/null || true; done
    for v in $(docker volume ls -q --filter "label=$run_label"); do docker volume rm -f "$v" >/dev/null || true; done
  fi
  if [[ $status != 0 && -f "$scratch/hearth.log" ]]; then
    echo "--- hearth's log ---" >&2; tail -n 40 "$scratch/hearth.log" >&2
  fi
  rm -rf "$scratch"
  exit $status
}
trap cleanup EXIT

step "make deb (debug build, fast compression)"
make --no-print-directory deb DEB_PROFILE=dev DEB_BUILD="--workspace --bins" DEB_ARGS=--fast >"$scratch/deb.log" 2>&1 \
  || { tail -n 30 "$scratch/deb.log" >&2; fail "make deb failed"; }
deb="$(ls -t "$TARGET"/debian/hearth_*.deb | head -n 1)"
step "built $deb ($(du -h "$deb" | cut -f1))"

step "contents"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./||' >"$scratch/contents"
for want in \
  usr/bin/hearth usr/bin/console usr/bin/worker-stub \
  usr/lib/systemd/user/hearth.socket usr/lib/systemd/user/hearth.service \
  usr/share/bash-completion/completions/hearth usr/share/bash-completion/completions/console \
  usr/share/bash-completion/completions/worker-stub \
  usr/share/zsh/vendor-completions/_hearth usr/share/zsh/vendor-completions/_console \
  usr/share/zsh/vendor-completions/_worker-stub \
  usr/share/fish/vendor_completions.d/hearth.fish usr/share/fish/vendor_completions.d/console.fish \
  usr/share/fish/vendor_completions.d/worker-stub.fish \
  usr/share/man/man1/hearth.1 usr/share/man/man1/hearth-serve.1 usr/share/man/man1/hearth-provision.1 \
  usr/share/man/man1/console.1 usr/share/man/man1/console-hatch-verify.1 usr/share/man/man1/worker-stub.1 \
  usr/share/doc/hearth/README.md usr/share/doc/hearth/copyright usr/share/doc/hearth/CHANGELOG.md; do
  grep -qx "$want" "$scratch/contents" || fail "$deb lacks $want"
done

root="$scratch/root"
dpkg -x "$deb" "$root"
grep -qx 'ListenStream=%t/hearth.sock' "$root/usr/lib/systemd/user/hearth.socket" || fail "hearth.socket does not listen on %t/hearth.sock"
grep -qx 'SocketMode=0600' "$root/usr/lib/systemd/user/hearth.socket" || fail "hearth.socket is not SocketMode=0600"
grep -qx 'Type=notify' "$root/usr/lib/systemd/user/hearth.service" || fail "hearth.service is not Type=notify"
# The units as systemd reads them (ExecStart pointed at the unpacked binary): any warning fails.
mkdir -p "$scratch/units"
cp "$root"/usr/lib/systemd/user/hearth.{socket,service} "$scratch/units/"
sed -i "s|^ExecStart=/usr/bin/hearth|ExecStart=$root/usr/bin/hearth|" "$scratch/units/hearth.service"
if command -v systemd-analyze >/dev/null; then
  verdict="$(systemd-analyze verify --man=no "$scratch/units/hearth.socket" "$scratch/units/hearth.service" 2>&1)" \
    || fail "systemd-analyze verify refused the units: $verdict"
  [[ -z "$verdict" ]] || fail "systemd-analyze verify warns about the units: $verdict"
fi
grep -q -- '--socket' "$root/usr/share/bash-completion/completions/hearth" || fail "bash completion lacks --socket"
version="$("$root/usr/bin/hearth" --version)"
[[ "$version" =~ ^hearth\ [0-9]+\.[0-9]+\.[0-9]+\ \(.+\)$ ]] || fail "hearth --version printed '$version'"
step "installed $version"

step "socket activation"
sock="$scratch/run/hearth.sock"
mkdir -p "$scratch/run"
if [[ "$HEARTH_E2E" == 1 ]]; then driver=local-docker; else driver=fake; fi
export HEARTH_IMAGE_CAIRNET="$IMAGE" HEARTH_IMAGE_LORE="$IMAGE" HEARTH_PULL=never HEARTH_LOG_FORMAT=json
(
  umask 022
  exec systemd-socket-activate -l "$sock" \
    -E HEARTH_IMAGE_CAIRNET -E HEARTH_IMAGE_LORE -E HEARTH_PULL -E HEARTH_LOG_FORMAT \
    ${DOCKER_HOST:+-E DOCKER_HOST} \
    "$root/usr/bin/hearth" serve --driver "$driver" --state-dir "$scratch/state" \
    --instance "deb$run" --label "$run_label"
) >"$scratch/hearth.log" 2>&1 &
activator=$!
for _ in $(seq 50); do [[ -S "$sock" ]] && break; sleep 0.1; done
[[ -S "$sock" ]] || fail "systemd-socket-activate did not create $sock"
[[ "$(readlink "/proc/$activator/exe")" == *systemd-socket-activate ]] \
  || fail "something other than the activator runs before the first connection"

health="$(curl -sS --max-time 30 --unix-socket "$sock" http://hearth/v1/healthz)" || fail "the first healthz was not answered"
[[ "$health" == *'"ok":true'* ]] || fail "the first healthz answered '$health'"
[[ "$(readlink "/proc/$activator/exe")" == "$root/usr/bin/hearth" ]] || fail "the installed hearth is not what answered"
grep -q '"activated":true' "$scratch/hearth.log" || fail "hearth did not report serving on the passed socket"
mode="$(stat -c %a "$sock")"
[[ "$mode" == 600 ]] || fail "the activated socket has mode $mode, not 600"

hearth=("$root/usr/bin/hearth" --socket "$sock")
step "provision $slug ($driver)"
"${hearth[@]}" provision "$slug" -o json >"$scratch/ref.json" || fail "provision failed"
grep -q '"last_status": "ready"' "$scratch/ref.json" || fail "provision did not answer ready: $(cat "$scratch/ref.json")"
if [[ "$HEARTH_E2E" == 1 ]]; then
  n="$(docker ps -q --filter "label=$run_label" | wc -l)"
  [[ "$n" == 2 ]] || fail "expected 2 running containers labelled $run_label, found $n"
  endpoint="$(sed -n 's/^  "endpoint": "\(.*\)",$/\1/p' "$scratch/ref.json")"
  curl -sf --max-time 5 "$endpoint" >/dev/null || fail "the workspace's front door $endpoint does not answer"
fi
listing="$("${hearth[@]}" ls)" || fail "hearth ls failed"
grep -q "^$slug  " <<<"$listing" || fail "hearth ls does not list $slug: $listing"

step "teardown $slug"
"${hearth[@]}" teardown "$slug" >/dev/null || fail "teardown failed"
[[ "$("${hearth[@]}" status "$slug")" == "$slug: tier_torn_down" ]] || fail "status after teardown is not tier_torn_down"
if [[ "$HEARTH_E2E" == 1 ]]; then
  left="$(docker ps -aq --filter "label=$run_label"; docker network ls -q --filter "label=$run_label"; docker volume ls -q --filter "label=$run_label")"
  [[ -z "$left" ]] || fail "teardown left objects labelled $run_label behind"
fi

mode="$(stat -c %a "$sock")"
[[ "$mode" == 600 ]] || fail "the socket's mode changed to $mode"
step "stop"
kill -TERM "$activator"
timeout 20 tail --pid="$activator" -f /dev/null || fail "hearth did not stop on SIGTERM within 20 s"
activator=""
[[ -S "$sock" ]] || fail "hearth unlinked the socket the activator created"
step "ok: $deb installs, starts on its socket, provisions and tears down"
