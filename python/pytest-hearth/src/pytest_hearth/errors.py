"""The gaps the plugin reports: each a typed error with a stable code and a hint.

The plugin reports an error of this family as its message alone (no traceback from inside
the plugin, see ``plugin.pytest_runtest_makereport``), so what a failing run prints is the
gap itself: the binary that is missing, the act the HATCH chain lacks, the engine that does
not answer.
"""

from __future__ import annotations

from typing import Any


class HearthError(Exception):
    """A gap found while driving hearth, the console or the worker.

    ``code`` is stable (what a test may match on); ``hint`` says what to do.
    """

    code = "hearth_error"

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        """Keep the message, the hint and (when given) a more precise code."""
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        """The message with the code after its first line, then the hint, as reported."""
        first, _, rest = self.message.partition("\n")
        text = f"{first} ({self.code})" + (f"\n{rest}" if rest else "")
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text


class BinaryNotFound(HearthError):
    """A binary of the play (``hearth``, ``console``, ``worker-stub``) could not be found."""

    code = "binary_not_found"


class StartFailed(HearthError):
    """A child exited or stayed silent past its start deadline."""

    code = "start_failed"


class EngineUnavailable(HearthError):
    """``HEARTH_E2E=1`` (or ``ROCKY_E2E=1``) is set and no engine answers: a failure, no skip."""

    code = "docker_unavailable"


class ApiError(HearthError):
    """The console answered an error: its code, message, hint and HTTP status."""

    code = "api_error"

    def __init__(self, act: str, status: int, body: Any) -> None:
        """Read ``{"error": {code, message, hint}}`` from the console's answer to ``act``."""
        err = body.get("error") if isinstance(body, dict) else None
        err = err if isinstance(err, dict) else {}
        message = str(err.get("message") or body)
        hint = err.get("hint")
        super().__init__(
            f"{act}: the console answered {status}: {message}",
            hint=str(hint) if hint else None,
            code=str(err.get("code") or "api_error"),
        )
        self.status = status
        self.body = body


class ProvisionFailed(ApiError):
    """``POST /api/hearth/workspaces`` failed (``docker_unavailable``, ``image_unavailable`` …)."""


class RunRejected(ApiError):
    """``POST /api/ralph/runs`` was refused (``submit_rejected`` when the worker said 401)."""


class TeardownFailed(ApiError):
    """``DELETE /api/hearth/workspaces/{slug}`` failed (``deadline_exceeded`` …)."""


class RunUnfinished(HearthError):
    """A run was still going when its deadline passed."""

    code = "run_unfinished"


class ChainBroken(HearthError, AssertionError):
    """``console hatch verify`` found the chain broken: the first missing act and its cause.

    ``code`` is verify's (``docker_unavailable``, ``bearer_drift``, ``kahn_schema_drift``,
    ``teardown_deadline``, ``no_log`` …), ``gap`` its whole diagnosis.
    """

    code = "chain_broken"

    def __init__(self, message: str, *, gap: dict[str, Any], hint: str | None) -> None:
        """Keep verify's gap beside the message."""
        super().__init__(message, hint=hint, code=str(gap.get("code") or "chain_broken"))
        self.gap = gap


class LeftBehind(HearthError):
    """hearth stopped and objects it made were still on the engine (they were removed)."""

    code = "left_behind"
