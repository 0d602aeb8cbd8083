"""The five failure modes of the origin's e2e design, each made real with the knob the Rust
drills use (tests/tests/drills.rs): a missing binary, a socket with no engine behind it, key
files that differ, the worker's ``--fault bad-frame``, a teardown that outlasts hearth's
``--teardown-timeout`` (the Fake driver's ``hang:teardown``).

Each runs the user's play unchanged (``PLAY``) and checks the plugin reports the precise gap
(the fixture error naming the binary, the console's code and hint, ``assert_chain`` naming the
missing act and its cause), never a traceback from inside the plugin. A second inner test
lets the play's failing act pass and checks what ``hatch.assert_chain`` says of the log.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PLAY

#: Traceback lines from inside the plugin look like this (its files, wherever installed).
PLUGIN_FRAME = "pytest_hearth/"


def run_inner(
    pytester: pytest.Pytester, bin_dir: Path, conftest: str, chain_test: str | None = None
) -> pytest.RunResult:
    pytester.makeconftest(conftest)
    files = {"test_play": PLAY}
    if chain_test is not None:
        files["test_chain"] = chain_test
    pytester.makepyfile(**files)
    # `--opt=VALUE`: a separate path argument would be taken for a rootdir candidate.
    return pytester.runpytest_subprocess(f"--hearth-bin-dir={bin_dir}", "-p", "no:cacheprovider")


def no_plugin_frames(result: pytest.RunResult) -> None:
    out = result.stdout.str()
    frames = [line for line in out.splitlines() if PLUGIN_FRAME in line]
    assert not frames, f"the report shows the plugin's own frames:\n{out}"


def test_binary_not_found(pytester: pytest.Pytester) -> None:
    """A bin dir without the binaries: the fixture errors before act 1, naming `hearth`."""
    nowhere = pytester.path / "nowhere"
    nowhere.mkdir()
    pytester.makepyfile(test_play=PLAY)
    result = pytester.runpytest_subprocess(f"--hearth-bin-dir={nowhere}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_play*",
            f"*the `hearth` binary is not in {nowhere} (--hearth-bin-dir): *hearth does not exist "
            "(binary_not_found)",
            "*hint: build it (`cargo build -p hearth --bins`, or `make build`)*",
        ]
    )
    no_plugin_frames(result)


ENGINE_DOWN = """
import os, socket, tempfile
from pytest_hearth import factories

# A socket nobody serves, as a stopped engine leaves it: hearth starts, provisions fail.
STALE = os.path.join(tempfile.mkdtemp(prefix="no-engine-"), "docker.sock")
s = socket.socket(socket.AF_UNIX)
s.bind(STALE)
s.close()
hearth_proc = factories.hearth_proc(docker_host=f"unix://{STALE}")
"""

CHAIN_AFTER_PROVISION = """
import pytest
from pytest_hearth import ProvisionFailed


def test_chain(console, hatch):
    # Its own slug: the play (test_play.py) runs "test" in the same session.
    with pytest.raises(ProvisionFailed):
        console.provision("chain")
    hatch.assert_chain("provision-then-ralph", prompts=4)
"""


def test_engine_down(pytester: pytest.Pytester, bin_dir: Path) -> None:
    """No engine behind the socket: the provision fails with docker_unavailable, and the
    chain names the engine.
    """
    result = run_inner(pytester, bin_dir, ENGINE_DOWN, CHAIN_AFTER_PROVISION)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_play.py:*: in test_play",
            '*ws = workspace("test", tier="solo")',
            "E   *ProvisionFailed: provision 'test' (solo): the console answered 503: *"
            "(docker_unavailable)",
            "E   hint: *",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E   *ChainBroken: the HATCH chain provision-then-ralph (4 prompts) breaks at act 2 "
            "of 10: hearth.provisioned is missing (*) (docker_unavailable)",
            "E   cause: Docker engine not running",
        ]
    )
    no_plugin_frames(result)


def other_keys(pytester: pytest.Pytester) -> Path:
    keys = pytester.path / "console.keys"
    keys.write_text("pytest:" + "ab" * 32 + "\n")
    keys.chmod(0o600)
    return keys


CHAIN_AFTER_RUN = """
import pytest
from pytest_hearth import RunRejected


def test_chain(workspace, hatch):
    # Its own slug: the play (test_play.py) runs "test" in the same session.
    ws = workspace("chain")
    with pytest.raises(RunRejected):
        ws.run(4)
    ws.teardown()
    hatch.assert_chain("provision-then-ralph", prompts=4)
"""


def test_bearer_drift(pytester: pytest.Pytester, bin_dir: Path) -> None:
    """Console and worker sign with different keys: the run is refused (401) and the chain
    names the key drift.
    """
    keys = other_keys(pytester)
    conftest = f"""
from pytest_hearth import factories

hearth_proc = factories.hearth_proc(driver="fake")
console_proc = factories.console_proc(keys={str(keys)!r})
"""
    result = run_inner(pytester, bin_dir, conftest, CHAIN_AFTER_RUN)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*ws.run(4)",
            "E   *RunRejected: run of 4 prompt(s) on 'test': the console answered 502: the worker "
            "refused the run (401: *) (submit_rejected)",
            "E   hint: the worker did not accept the console's bearer: the --keys files *drifted*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E   *ChainBroken: the HATCH chain * breaks at act 3 of 10: ralph.run.started is "
            "missing * (bearer_drift)",
            "E   cause: worker bearer drift (keys differ)",
        ]
    )
    no_plugin_frames(result)


def test_frame_schema_drift(pytester: pytest.Pytester, bin_dir: Path) -> None:
    """The worker's frames break the KAHN schema: the run ends short of its nodes and
    `assert_chain` names the schema drift.
    """
    conftest = """
from pytest_hearth import factories

hearth_proc = factories.hearth_proc(driver="fake")
worker_proc = factories.worker_proc(faults=["bad-frame"])
"""
    result = run_inner(pytester, bin_dir, conftest)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*hatch.assert_chain("provision-then-ralph", prompts=4)',
            "E   *ChainBroken: the HATCH chain provision-then-ralph (4 prompts) breaks at act 4 "
            "of 10: ralph.node.* (1 of 4) is missing * (kahn_schema_drift)",
            "E   cause: KAHN schema drift*",
        ]
    )
    no_plugin_frames(result)


CHAIN_AFTER_TEARDOWN = """
import pytest
from pytest_hearth import TeardownFailed


def test_chain(workspace, hatch):
    # Its own slug: the play (test_play.py) runs "test" in the same session.
    ws = workspace("chain")
    ws.run(4)
    with pytest.raises(TeardownFailed):
        ws.teardown()
    hatch.assert_chain("provision-then-ralph", prompts=4)
"""


def test_teardown_past_its_deadline(pytester: pytest.Pytester, bin_dir: Path) -> None:
    """hearth's teardown hangs past --teardown-timeout: the teardown fails with
    deadline_exceeded, the fixture does not hang or retry, and the chain names the deadline.
    """
    conftest = """
from pytest_hearth import factories

hearth_proc = factories.hearth_proc(driver="fake", teardown_timeout=2,
                                    fake_faults=["hang:teardown"])
"""
    result = run_inner(pytester, bin_dir, conftest, CHAIN_AFTER_TEARDOWN)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*ws.teardown()",
            "E   *TeardownFailed: teardown of 'test': the console answered 504: * "
            "(deadline_exceeded)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E   *ChainBroken: the HATCH chain * breaks at act 10 of 10: hearth.decommissioned "
            "is missing (*) (teardown_deadline)",
            "E   cause: teardown past its deadline",
            "E   evidence: *hearth.decommission_failed chain: code deadline_exceeded*",
        ]
    )
    no_plugin_frames(result)


def test_the_play_passes_on_the_fake_driver(pytester: pytest.Pytester, bin_dir: Path) -> None:
    """The same play, nothing broken: green (so the failures above are the faults' doing)."""
    result = run_inner(
        pytester,
        bin_dir,
        'from pytest_hearth import factories\nhearth_proc = factories.hearth_proc(driver="fake")\n',
    )
    result.assert_outcomes(passed=1)
