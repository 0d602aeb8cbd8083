# hearth — the commands users and CI run. CI (.ci/run) calls these same targets, so one
# `make lint test` on your machine reproduces CI. `make` alone lists the targets.
#
# Needs: cargo/rustc (with rustfmt and clippy), a Docker engine, bash, make, curl. What the
# tests drive besides (chromium, docker-registry, Podman, …) `make tools` installs, and
# `make test` runs it first (.ci/tools.sh): on Debian/Ubuntu, as root or with `sudo -n`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
DOCKER ?= docker

# Docker-backed tests run by default; HEARTH_E2E=0 runs only the tests that need no engine.
# With HEARTH_E2E=1 and no engine reachable, those tests fail loudly: they never skip.
HEARTH_E2E ?= 1
# The workspace image for the play and the tests: the offline stand-in unless told
# otherwise, e.g. `make e2e STANDIN=nginx:alpine` where a registry is reachable.
STANDIN ?= hearth-standin:local
HEARTH_TEST_IMAGE ?= $(STANDIN)
export HEARTH_E2E HEARTH_TEST_IMAGE

# Every `make test` / `make e2e` / `make bench` is one test run with an id of its own; the
# objects it creates carry dev.hearth.test=<run id>, and it sweeps those and no others, so
# two runs on one engine (two CI jobs on one runner) never touch each other's objects.
# `make clean-docker HEARTH_TEST_RUN=<id>` sweeps a given run; `ALL=1` every test run's.
ifeq ($(strip $(HEARTH_TEST_RUN)),)
HEARTH_TEST_RUN := $(shell date +%s)-$(shell od -An -N4 -tx4 /dev/urandom | tr -d ' ')
endif
export HEARTH_TEST_RUN
TEST_LABEL := dev.hearth.test=$(HEARTH_TEST_RUN)
ifeq ($(ALL),1)
SWEEP_LABEL := dev.hearth.test
else
SWEEP_LABEL := $(TEST_LABEL)
endif

# `make images` only matters when the tests use the stand-in built here. The play (demo, e2e,
# bench) needs the stand-in alone, so a newcomer's `make demo` needs no Debian package; the
# image tests also run busybox's httpd (hearth-busybox:local, which `make tools` provides for).
ifeq ($(HEARTH_TEST_IMAGE),hearth-standin:local)
IMAGE_DEPS := images
PLAY_IMAGE_DEPS := standin-image
else
IMAGE_DEPS :=
PLAY_IMAGE_DEPS :=
endif
ifeq ($(HEARTH_E2E),1)
TEST_DEPS := tools preflight build $(IMAGE_DEPS)
else
TEST_DEPS := build
endif

.PHONY: help tools preflight build images standin-image lint fmt docs test test-quick test-suites e2e demo bench \
  clean-docker ci deb deb-test fuzz fuzz-check python python-lint python-test

help: ## list the targets
	@echo "hearth — make targets:"
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## /  \1\t/' | expand -t 16
	@echo
	@echo "variables: HEARTH_E2E=$(HEARTH_E2E) (1 = Docker-backed tests run)," \
	      "STANDIN=$(STANDIN), HEARTH_TEST_IMAGE=$(HEARTH_TEST_IMAGE)"

# tools: every program the lint and the tests drive besides cargo and the engine, installed
# when missing (one apt-get update; as root or with sudo -n; cargo-deb, mdbook: cargo install).
# Where that cannot be done it fails at once, naming the packages and the command to run.
tools: ## install what lint and test drive (Debian packages, cargo-deb, mdbook) when missing
	@CARGO="$(CARGO)" bash .ci/tools.sh install

# preflight: what make test needs that no install gives (root for the Podman services, an
# engine answering, no swarm worker), checked before anything is built.
preflight:
	@bash .ci/tools.sh preflight

build: ## build every binary of the workspace (debug)
	$(CARGO) build --workspace --bins

images: ## build the offline images hearth-standin:local and hearth-busybox:local (no registry needed; IMAGES=standin for one)
	@bash images/build.sh

standin-image: ## build only hearth-standin:local (what the play needs)
	@IMAGES=standin bash images/build.sh

# Library and binary code (not tests) also keeps each function within 80 lines (clippy.toml)
# and marks `pub` only what another crate can reach. The book must build, its links resolve.
# The fuzz targets' libFuzzer is built with a C++ compiler (installed when missing). The API
# docs are built too: a broken intra-doc link or a malformed doc comment is an error.
lint: ## rustfmt, clippy and rustdoc with warnings as errors (fuzz targets must compile, the book build)
	@CARGO="$(CARGO)" bash .ci/tools.sh install lint
	$(MAKE) --no-print-directory fuzz-check
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --lib --bins -- -D warnings -W clippy::too_many_lines -W unreachable_pub
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --quiet
	$(MAKE) --no-print-directory docs
	$(MAKE) --no-print-directory python-lint

fmt: ## format the workspace
	$(CARGO) fmt --all

# docs: the manual, an mdBook under docs/ (docs/src/SUMMARY.md lists the chapters), built
# into <target dir>/book with mdbook from crates.io (.ci/tools.sh installs the pinned version
# if missing, without the serve/watch/search features it does not need), then the link check:
# every relative link of README.md and the book names a file, and every #anchor a heading,
# that exists (tests/tests/docs_links.rs, which `make test` runs too).
BOOK_DIR := $(or $(CARGO_TARGET_DIR),target)/book
docs: ## build the book (docs/ → target/book) with mdbook and check its links
	@CARGO="$(CARGO)" bash .ci/tools.sh install docs
	mdbook build docs --dest-dir "$(abspath $(BOOK_DIR))"
	$(CARGO) test -q -p hearth-e2e --test docs_links
	@echo "docs: the book is at $(BOOK_DIR)/index.html"

# Every test, on every engine, none skipped (HEARTH_E2E=1): `make tools` first, then the
# suites inside .ci/tools.sh run, which makes the engine a single-node swarm for the run when
# it is in none, starts a private Podman service with the test image loaded, and sets
# HEARTH_SWARM=1 HEARTH_PODMAN=1 (an engine missing is then a failure, not a skip); it
# stops and leaves what it started, also on failure. HEARTH_E2E=0 is `make test-quick`.
test: $(TEST_DEPS) ## run every test: Docker, Podman, Swarm, browser, registry, .deb (installs what they drive)
ifeq ($(HEARTH_E2E),1)
	@CARGO="$(CARGO)" bash .ci/tools.sh run -- $(MAKE) --no-print-directory test-suites
else
	$(CARGO) test --workspace --no-fail-fast
	@echo "test: HEARTH_E2E=0 ran the tests that need no engine; the engine, browser," \
	  "registry and packaging tests did not run (make test runs them)"
endif

test-quick: ## run only the tests that need no engine (installs nothing; HEARTH_E2E=0)
	@$(MAKE) --no-print-directory test HEARTH_E2E=0

# test-suites: what `make test` runs once the engines are up (call `make test`, not this).
# Leftovers of this run (labelled dev.hearth.test=$$HEARTH_TEST_RUN) are swept after, whether
# the tests passed or not; then the packaging test. The exit status is the first failure's.
test-suites:
	@echo "test run $(HEARTH_TEST_RUN): its objects are labelled $(TEST_LABEL)"
	@status=0; $(CARGO) test --workspace --no-fail-fast || status=$$?; \
	  $(MAKE) --no-print-directory python-test || { [[ $$status != 0 ]] || status=1; }; \
	  $(MAKE) --no-print-directory clean-docker QUIET=1; \
	  deb=0; $(MAKE) --no-print-directory deb-test || deb=$$?; \
	  [[ $$status != 0 ]] || status=$$deb; exit $$status

# python: the venv <target dir>/py (made with $(PYTHON) -m venv when missing; Debian's python3
# needs python3-venv, which .ci/tools.sh installs), with python/pytest-hearth installed as a
# user would (pip install ./python/pytest-hearth) and the pinned tools of
# python/requirements-dev.txt, from PyPI. python-lint: ruff and mypy --strict, then the wheel
# (into <target dir>/wheels). python-test: the plugin's own tests (pytester sessions against
# the debug binaries) and the play as a pytest file (examples/), on the engine with HEARTH_E2E=1.
PYTHON ?= python3
PY_VENV := $(abspath $(or $(CARGO_TARGET_DIR),target)/py)
PY_PKG := python/pytest-hearth
PY_BIN_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target)/debug)
PY_WHEELS := $(abspath $(or $(CARGO_TARGET_DIR),target)/wheels)
python: ## make the venv target/py with pytest-hearth and its tools (from PyPI)
	@PYTHON="$(PYTHON)" bash .ci/tools.sh install python >/dev/null
	@[[ -x "$(PY_VENV)/bin/python" ]] || $(PYTHON) -m venv "$(PY_VENV)"
	@"$(PY_VENV)/bin/pip" install -q --disable-pip-version-check -r python/requirements-dev.txt ./$(PY_PKG)

python-lint: python ## ruff, mypy --strict and the wheel of python/pytest-hearth
	cd $(PY_PKG) && "$(PY_VENV)/bin/ruff" check . && "$(PY_VENV)/bin/ruff" format --check . && "$(PY_VENV)/bin/mypy"
	"$(PY_VENV)/bin/pip" wheel -q --disable-pip-version-check --no-deps -w "$(PY_WHEELS)" ./$(PY_PKG)

python-test: python ## the pytest-hearth tests and the play as a pytest file (needs make build)
	cd $(PY_PKG) && HEARTH_BIN_DIR="$(PY_BIN_DIR)" "$(PY_VENV)/bin/python" -m pytest -q -p no:cacheprovider \
	  --hearth-image="$(HEARTH_TEST_IMAGE)"

# e2e: the end-to-end play and fault drills only (the tests crate), always against Docker.
# The tests leave target/e2e/hatch.jsonl (the Docker play's HATCH log) and
# target/e2e/junit.xml (written by the tests themselves) for CI to keep as artifacts.
E2E_DIR := $(or $(CARGO_TARGET_DIR),target)/e2e
# E2E_ARGS goes to the test binaries (e.g. --skip NAME).
E2E_ARGS ?=
e2e: build $(PLAY_IMAGE_DEPS) ## run the end-to-end play and fault drills (crate hearth-e2e)
	@rm -rf "$(E2E_DIR)" && mkdir -p "$(E2E_DIR)"
	@status=0; HEARTH_E2E=1 $(CARGO) test -p hearth-e2e --no-fail-fast -- $(E2E_ARGS) || status=$$?; \
	  $(MAKE) --no-print-directory clean-docker QUIET=1; \
	  echo "e2e: HATCH log $(E2E_DIR)/hatch.jsonl, JUnit report $(E2E_DIR)/junit.xml"; \
	  exit $$status

# demo: provision → four-prompt run → teardown, narrated (binary `demo` of hearth-e2e); it
# removes what it made, and keeps its HATCH log at target/demo/hatch.jsonl.
# DEMO_ARGS=--break-keys (or --bad-frames) breaks it on purpose to show a diagnosis.
DEMO_ARGS ?=
demo: build $(PLAY_IMAGE_DEPS) ## run the play once, narrated, against the local engine
	HEARTH_E2E=1 $(CARGO) run -q -p hearth-e2e --bin demo -- $(DEMO_ARGS)

# bench: hearth (release build) against the engine floor and the docker CLI, side by side,
# and the whole play (console + worker-stub), HATCH appends and relay latency; writes
# BENCH.md. BENCH_ARGS passes flags on, e.g. BENCH_ARGS="--runs 7 --scale 1,8".
# Every object it creates is labelled dev.hearth.test=1 and swept by the bench itself.
BENCH_ARGS ?=
bench: $(PLAY_IMAGE_DEPS) ## benchmark hearth against the engine floor (writes BENCH.md)
	$(CARGO) build --release -p hearth -p console -p worker-stub --bins
	$(CARGO) run --release -q -p hearth-bench -- $(BENCH_ARGS)

# deb: target/debian/hearth_VERSION_ARCH.deb with cargo-deb (.ci/tools.sh installs it if missing): the
# three binaries, the systemd user units (packaging/systemd/), completions and man pages
# generated from the binaries' clap definitions into <profile dir>/assets, README, licence.
# DEB_PROFILE=dev packages the debug build (what the packaging test does, to build nothing
# twice); DEB_ARGS passes flags to cargo-deb (e.g. --fast).
DEB_PROFILE ?= release
DEB_BUILD ?= -p hearth -p console -p worker-stub --bins
DEB_ARGS ?=
DEB_DIR := $(or $(CARGO_TARGET_DIR),target)/$(if $(filter dev,$(DEB_PROFILE)),debug,$(DEB_PROFILE))
deb: ## build the Debian package (target/debian/hearth_*.deb)
	@CARGO="$(CARGO)" bash .ci/tools.sh install deb
	$(CARGO) build --profile $(DEB_PROFILE) $(DEB_BUILD)
	@rm -rf "$(DEB_DIR)/assets"
	@for bin in hearth console worker-stub; do \
	  "$(DEB_DIR)/$$bin" generate-assets --out "$(DEB_DIR)/assets" >/dev/null; done
	$(CARGO) deb -p hearth --no-build --profile $(DEB_PROFILE) $(DEB_ARGS)

# deb-test: builds the .deb from the debug build, inspects it, unpacks it into a scratch root
# and runs the installed hearth under systemd-socket-activate (packaging/deb-test.sh).
deb-test: ## test the .deb: contents, socket activation, provision and teardown
	@bash packaging/deb-test.sh

clean-docker: ## remove this test run's swarm services, containers, networks and volumes (ALL=1: every run's)
	@if ! timeout 20 $(DOCKER) version --format '{{.Server.Version}}' >/dev/null 2>&1; then \
	  echo "clean-docker: the Docker engine does not answer ($(DOCKER) version failed)." >&2; \
	  echo "  start it (sudo systemctl start docker, or: sudo dockerd &), or run HEARTH_E2E=0 make test" >&2; \
	  exit 1; fi; \
	n=0; \
	for s in $$($(DOCKER) service ls -q --filter label=$(SWEEP_LABEL) 2>/dev/null); do \
	  $(DOCKER) service rm "$$s" >/dev/null && n=$$((n+1)); done; \
	for c in $$($(DOCKER) ps -aq --filter label=$(SWEEP_LABEL)); do \
	  $(DOCKER) rm -f -v "$$c" >/dev/null && n=$$((n+1)); done; \
	for x in $$($(DOCKER) network ls -q --filter label=$(SWEEP_LABEL)); do \
	  $(DOCKER) network rm "$$x" >/dev/null && n=$$((n+1)); done; \
	for x in $$($(DOCKER) volume ls -q --filter label=$(SWEEP_LABEL)); do \
	  $(DOCKER) volume rm -f "$$x" >/dev/null && n=$$((n+1)); done; \
	if [[ $$n -gt 0 ]]; then echo "clean-docker: removed $$n leftover resource(s) labelled $(SWEEP_LABEL)" >&2; \
	elif [[ -z "$(QUIET)" ]]; then echo "clean-docker: nothing labelled $(SWEEP_LABEL)"; fi

# fuzz: every target under fuzz/ for FUZZ_SECONDS each (cargo-fuzz, libFuzzer). cargo-fuzz
# needs nightly features; RUSTC_BOOTSTRAP=1 lends them to the stable toolchain. New corpus
# entries land in fuzz/corpus/TARGET, crashes in fuzz/artifacts/TARGET: commit both, and
# `make test` replays them (console/tests/fuzz_corpus.rs, hearth/tests/fuzz_corpus.rs).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := bearer_verify bearer_mutation kahn_frame hatch_read sse_reader slug_parse rpc_shapes hatch_verify console_request config_file lock_file
fuzz: ## run each fuzz target for FUZZ_SECONDS (default 60; needs cargo install cargo-fuzz)
	@command -v cargo-fuzz >/dev/null || { echo "fuzz: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 1; }
	@cd fuzz && for t in $(FUZZ_TARGETS); do \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 || exit 1; \
	done

fuzz-check: ## check that the fuzz targets compile (stable; no libFuzzer run)
	$(CARGO) check --quiet --manifest-path fuzz/Cargo.toml --bins

ci: ## run CI locally: .ci/run (starts dockerd if needed, then lint and test)
	bash .ci/run
