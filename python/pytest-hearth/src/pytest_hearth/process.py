"""A child binary: started with stdout and stderr in files (so it never blocks on a pipe),
waited for (its ``listening http://…`` line, or a check of the caller's), and stopped with
SIGTERM, then SIGKILL past a grace period.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_hearth.errors import HearthError, StartFailed

#: How long a child may take to come up.
START_DEADLINE = 60.0
#: How long a stopped child gets after SIGTERM before SIGKILL.
STOP_GRACE = 10.0
#: How often a waiting fixture looks again.
POLL = 0.02


def run_bounded(
    argv: Sequence[str | Path], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs a command to its end, its output captured; a :class:`HearthError` naming it when
    it cannot be started or outlasts ``timeout`` seconds.
    """
    cmd = [str(a) for a in argv]
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise HearthError(
            f"`{' '.join(cmd[:3])} …` did not finish within {timeout:.0f} s", code="timeout"
        ) from None
    except OSError as e:
        raise HearthError(f"cannot run {cmd[0]}: {e}", code="start_failed") from None


class Child:
    """One running binary of the play."""

    def __init__(self, name: str, argv: Sequence[str | Path], logs: Path) -> None:
        """Start ``argv`` with its output in ``logs/NAME.stdout`` and ``logs/NAME.stderr``."""
        self.name = name
        self.argv = [str(a) for a in argv]
        self.stdout_path = logs / f"{name}.stdout"
        self.stderr_path = logs / f"{name}.stderr"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            try:
                self.proc = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err
                )
            except OSError as e:
                raise StartFailed(f"cannot start {name} ({self.argv[0]}): {e}") from e

    def tail(self, lines: int = 15) -> str:
        """The last lines of its stderr, for messages."""
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def diagnose(self) -> str:
        """Its state (running, or its exit status), then the tail of its stderr."""
        code = self.proc.poll()
        state = "is running" if code is None else f"exited with status {code}"
        return f"{self.name} {state}{self._tail_lines()}"

    def _tail_lines(self) -> str:
        tail = self.tail()
        return f"\nits stderr ends:\n{tail}" if tail else ""

    def wait_until(self, ready: Callable[[], bool], what: str, deadline: float) -> None:
        """Polls ``ready`` until it holds; raises :class:`StartFailed` if the child exits first
        or ``deadline`` seconds pass.
        """
        until = time.monotonic() + deadline
        while not ready():
            code = self.proc.poll()
            if code is not None:
                raise StartFailed(
                    f"{self.name} exited with status {code} before it would {what}"
                    f"{self._tail_lines()}"
                )
            if time.monotonic() > until:
                raise StartFailed(
                    f"{self.name} did not {what} within {deadline:.0f} s{self._tail_lines()}"
                )
            time.sleep(POLL)

    def listening_url(self, deadline: float = START_DEADLINE) -> str:
        """The URL of the ``listening http://ADDR`` line a server prints first on port 0."""
        url: list[str] = []

        def printed() -> bool:
            text = self.stdout_path.read_text(errors="replace")
            if "\n" not in text:
                return False
            first = text.splitlines()[0]
            if not first.startswith("listening "):
                raise StartFailed(
                    f"{self.name} printed {first!r} where `listening http://…` was expected"
                    f"{self._tail_lines()}"
                )
            url.append(first.removeprefix("listening ").strip())
            return True

        self.wait_until(printed, "print its `listening http://…` line", deadline)
        return url[0]

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after the grace period; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()
