"""The fixtures' contract beyond the play: where the binaries are found, the e2e marker,
hearth_noproc, the workspace factory's teardown after a failing test, and hearth_proc's
check for objects left on the engine.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import PLAY

FAKE = 'from pytest_hearth import factories\nhearth_proc = factories.hearth_proc(driver="fake")\n'

WHICH_HEARTH = """
def test_which(hearth_proc):
    print("HEARTH_BIN", hearth_proc.binaries.hearth)
"""


def fake_bin_dir(base: Path, real: Path) -> Path:
    """A directory with working copies (links) of the binaries, told apart by its path."""
    base.mkdir()
    for name in ("hearth", "console", "worker-stub"):
        (base / name).symlink_to(real / name)
    return base


@pytest.mark.parametrize("winner", ["factory", "option", "ini", "env"])
def test_bin_dir_order(
    pytester: pytest.Pytester, bin_dir: Path, monkeypatch: pytest.MonkeyPatch, winner: str
) -> None:
    """Factory argument > --hearth-bin-dir > ini hearth_bin_dir > HEARTH_BIN_DIR > PATH: each
    place wins over every later one (the later ones name a directory without binaries).
    """
    good = fake_bin_dir(pytester.path / "good", bin_dir)
    empty = pytester.path / "empty"
    empty.mkdir()
    order = ["factory", "option", "ini", "env"]
    at = order.index(winner)
    chosen = {place: (good if i == at else empty) for i, place in enumerate(order) if i >= at}
    factory_arg = f"bin_dir={str(chosen['factory'])!r}, " if "factory" in chosen else ""
    pytester.makeconftest(
        "from pytest_hearth import factories\n"
        f'hearth_proc = factories.hearth_proc({factory_arg}driver="fake")\n'
    )
    if "ini" in chosen:
        pytester.makeini(f"[pytest]\nhearth_bin_dir = {chosen['ini']}\n")
    monkeypatch.setenv("HEARTH_BIN_DIR", str(chosen["env"]))
    monkeypatch.setenv("PATH", f"{empty}:/usr/bin:/bin")
    args = ["-s"] + ([f"--hearth-bin-dir={chosen['option']}"] if "option" in chosen else [])
    pytester.makepyfile(WHICH_HEARTH)
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*HEARTH_BIN {good}/hearth"])


def test_bin_dir_falls_back_to_path(
    pytester: pytest.Pytester, bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing named, the binaries are found on PATH."""
    good = fake_bin_dir(pytester.path / "onpath", bin_dir)
    monkeypatch.delenv("HEARTH_BIN_DIR", raising=False)
    monkeypatch.setenv("PATH", f"{good}:/usr/bin:/bin")
    pytester.makeconftest(FAKE)
    pytester.makepyfile(WHICH_HEARTH)
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*HEARTH_BIN {good}/hearth"])


E2E_TEST = """
import pytest

@pytest.mark.e2e
def test_needs_engine():
    pass
"""


def test_e2e_marker_skips_unless_asked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without HEARTH_E2E=1 or ROCKY_E2E=1 an e2e test is skipped, saying how to run it."""
    monkeypatch.delenv("HEARTH_E2E", raising=False)
    monkeypatch.delenv("ROCKY_E2E", raising=False)
    pytester.makepyfile(E2E_TEST)
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*e2e: set HEARTH_E2E=1 (or ROCKY_E2E=1)*"])


@pytest.mark.parametrize("var", ["HEARTH_E2E", "ROCKY_E2E"])
def test_e2e_marker_fails_without_an_engine(
    pytester: pytest.Pytester, bin_dir: Path, monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    """Asked for and no engine answers: an error naming the engine, never a skip."""
    stale = pytester.path / "docker.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()
    monkeypatch.delenv("HEARTH_E2E", raising=False)
    monkeypatch.setenv(var, "1")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{stale}")
    pytester.makepyfile(E2E_TEST)
    result = pytester.runpytest_subprocess(f"--hearth-bin-dir={bin_dir}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_needs_engine*",
            # A gap found outside the test's own code is its message alone, no traceback.
            "HEARTH_E2E=1 asks for the engine-backed tests and they fail, never skip: "
            f"*{stale}*nobody listens on it* (docker_unavailable)",
            "hint: start the engine*",
        ]
    )


@pytest.fixture
def running_hearth(bin_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """A hearth (Fake driver) started by hand, as hearth_noproc finds one."""
    sock = tmp_path / "h.sock"
    proc = subprocess.Popen(
        [
            str(bin_dir / "hearth"),
            "serve",
            "--socket",
            str(sock),
            "--state-dir",
            str(tmp_path / "state"),
            "--driver",
            "fake",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    until = time.monotonic() + 30
    while True:
        try:
            transport = httpx.HTTPTransport(uds=str(sock))
            with httpx.Client(transport=transport) as c:
                if c.get("http://h/v1/healthz").status_code == 200:
                    break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, "hearth exited"
        assert time.monotonic() < until, "hearth did not answer"
        time.sleep(0.05)
    yield sock
    proc.terminate()
    proc.wait(10)


NOPROC = """
from pytest_hearth import factories
console_proc = factories.console_proc(hearth="hearth_noproc")
hearth_proc = factories.hearth_noproc()
"""


def test_hearth_noproc_attaches(
    pytester: pytest.Pytester, bin_dir: Path, running_hearth: Path
) -> None:
    """The play against a hearth the session did not start, found at --hearth-socket."""
    pytester.makeconftest(NOPROC)
    pytester.makepyfile(test_play=PLAY)
    result = pytester.runpytest_subprocess(
        f"--hearth-bin-dir={bin_dir}", f"--hearth-socket={running_hearth}"
    )
    result.assert_outcomes(passed=1)


def test_hearth_noproc_names_a_silent_socket(pytester: pytest.Pytester, bin_dir: Path) -> None:
    """No hearth at --hearth-socket: a setup error naming the socket."""
    pytester.makeconftest(NOPROC)
    pytester.makepyfile(test_play=PLAY)
    nobody = pytester.path / "nobody.sock"
    result = pytester.runpytest_subprocess(
        f"--hearth-bin-dir={bin_dir}", f"--hearth-socket={nobody}"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"no hearth answers GET /v1/healthz at {nobody} (hearth_unreachable)",
        ]
    )


def test_workspace_torn_down_after_a_failing_test(pytester: pytest.Pytester, bin_dir: Path) -> None:
    """A test that fails after provisioning still gets its workspace torn down."""
    pytester.makeconftest(FAKE)
    pytester.makepyfile("""
def test_a_fails(workspace):
    workspace("left")
    assert False, "the test fails after provisioning"

def test_b_checks(hearth_proc):
    assert hearth_proc.status("left") == "tier_torn_down"
""")
    result = pytester.runpytest_subprocess(f"--hearth-bin-dir={bin_dir}")
    result.assert_outcomes(passed=1, failed=1)


LEAK = """
import pytest

@pytest.mark.e2e
def test_leaks(workspace):
    ws = workspace("leak")
    ws.torn_down = True  # the fixture believes it gone: hearth_proc must find it
"""


@pytest.mark.e2e
def test_hearth_proc_finds_and_removes_leftovers(pytester: pytest.Pytester, bin_dir: Path) -> None:
    """hearth_proc stops hearth, finds what it left on the engine by instance label, removes
    it and reports it.
    """
    assert shutil.which("docker"), "the docker CLI is needed to look at the engine"
    pytester.makepyfile(LEAK)
    image = os.environ.get("HEARTH_TEST_IMAGE") or "hearth-standin:local"
    result = pytester.runpytest_subprocess(f"--hearth-bin-dir={bin_dir}", f"--hearth-image={image}")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks*",
            "hearth instance pytest-* left * object(s) on the engine after it "
            "stopped (now removed): container *(left_behind)",
        ]
    )
    found = re.search(r"hearth instance (pytest-[0-9a-f]+) left", result.stdout.str())
    assert found
    label = f"label=dev.hearth.instance={found.group(1)}"
    for ls in (["ps", "-aq"], ["network", "ls", "-q"], ["volume", "ls", "-q"]):
        out = subprocess.run(
            ["docker", *ls, "--filter", label], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "", f"{ls} still lists {out.stdout!r}"


def test_each_test_verifies_its_own_slice_of_the_log(
    pytester: pytest.Pytester, bin_dir: Path
) -> None:
    """Two plays in one session, one console, one HATCH file: each chain checks out alone."""
    pytester.makeconftest(FAKE)
    play = """
def test_{slug}(workspace, hatch):
    ws = workspace("{slug}")
    ws.run(2)
    ws.teardown()
    hatch.assert_chain(prompts=2)
    assert hatch.events[0].type == "hearth.provisioning_started"
    assert {{e.subject for e in hatch.of_type("hearth.")}} == {{"{slug}"}}
"""
    pytester.makepyfile(play.format(slug="one") + play.format(slug="two"))
    result = pytester.runpytest_subprocess(f"--hearth-bin-dir={bin_dir}")
    result.assert_outcomes(passed=2)


def test_a_child_that_does_not_start_is_named_with_its_stderr(
    pytester: pytest.Pytester, bin_dir: Path
) -> None:
    """hearth refusing its flags: a setup error naming it, its exit status and its stderr."""
    pytester.makeconftest(
        "from pytest_hearth import factories\n"
        'hearth_proc = factories.hearth_proc(driver="fake", args=["--pool", "nonsense"])\n'
    )
    pytester.makepyfile(WHICH_HEARTH)
    result = pytester.runpytest_subprocess(f"--hearth-bin-dir={bin_dir}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "hearth exited with status 1 before it would answer GET /v1/healthz (start_failed)",
            "its stderr ends:",
            '*pool "nonsense" is not TIER=N*',
        ]
    )


@pytest.mark.e2e
def test_factories_naming_their_bin_dir_need_no_option(
    pytester: pytest.Pytester, bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The e2e play with every binary named by the factories alone (no option, no env, not
    on PATH): the marker's engine check leaves the binaries to the fixtures, and it passes.
    """
    monkeypatch.delenv("HEARTH_BIN_DIR", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    pytester.makeconftest(f"""
from pytest_hearth import factories

hearth_proc = factories.hearth_proc({str(bin_dir)!r})
worker_proc = factories.worker_proc({str(bin_dir)!r})
console_proc = factories.console_proc(bin_dir={str(bin_dir)!r})
""")
    pytester.makepyfile(
        test_play="import pytest\n\n"
        + PLAY.replace("def test_play", "@pytest.mark.e2e\ndef test_play")
    )
    image = os.environ.get("HEARTH_TEST_IMAGE") or "hearth-standin:local"
    result = pytester.runpytest_subprocess(f"--hearth-image={image}")
    result.assert_outcomes(passed=1)
