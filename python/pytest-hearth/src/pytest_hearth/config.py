"""Where the plugin's settings come from, and where the binaries are found.

Every setting follows pytest-postgresql's order: the fixture factory's argument, then the
command-line option, then the ini value, then the default. The binaries' directory adds, after
the ini value, ``HEARTH_BIN_DIR``, then ``PATH``, then ``target/release`` of the hearth
checkout the tests run in.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_hearth.errors import BinaryNotFound

#: The image both roles run unless told otherwise: the offline stand-in (``make standin-image``).
DEFAULT_IMAGE = "hearth-standin:local"

#: The binaries the play runs.
BINARIES = ("hearth", "worker-stub", "console")

#: The options, as ``(name, help)``; each is also an ini key (``hearth_bin_dir`` …).
OPTIONS = (
    (
        "hearth_bin_dir",
        "directory holding the hearth, console and worker-stub binaries "
        "(default: HEARTH_BIN_DIR, then PATH, then target/release of this checkout)",
    ),
    (
        "hearth_socket",
        "socket of a running hearth for hearth_noproc "
        "(default: HEARTH_SOCKET, then hearth's own default)",
    ),
    ("hearth_image", f"image every role runs under hearth_proc (default: {DEFAULT_IMAGE})"),
)


def setting(config: pytest.Config, name: str) -> str | None:
    """The command-line option ``name``, else its ini value, else ``None``."""
    value = config.getoption(name, default=None) or config.getini(name)
    return str(value) if value else None


def e2e_wanted() -> bool:
    """Whether the engine-backed tests are asked for (``HEARTH_E2E=1`` or ``ROCKY_E2E=1``)."""
    return os.environ.get("HEARTH_E2E") == "1" or os.environ.get("ROCKY_E2E") == "1"


def image(config: pytest.Config, given: str | None) -> str:
    """The roles' image: the factory's, ``--hearth-image``, ini ``hearth_image``, the stand-in."""
    return given or setting(config, "hearth_image") or DEFAULT_IMAGE


def default_socket() -> Path:
    """Hearth's own default: ``HEARTH_SOCKET``, ``$XDG_RUNTIME_DIR/hearth.sock``, then ``/tmp``."""
    for var in ("HEARTH_SOCKET", "ROCKY_HEARTH_SOCKET"):
        if os.environ.get(var):
            return Path(os.environ[var])
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "hearth.sock"
    return Path(f"/tmp/hearth-{os.getuid()}.sock")


def socket(config: pytest.Config, given: str | os.PathLike[str] | None) -> Path:
    """hearth_noproc's socket: the factory's, ``--hearth-socket``, ini, then hearth's default."""
    chosen = given or setting(config, "hearth_socket")
    return Path(chosen) if chosen else default_socket()


@dataclass(frozen=True)
class Binaries:
    """The three binaries of the play, and where they were looked for (for messages)."""

    hearth: Path
    worker: Path
    console: Path
    source: str


def _checkout(start: Path) -> Path | None:
    """The hearth checkout ``start`` lies in: the first parent holding ``hearth/Cargo.toml``."""
    for d in (start, *start.parents):
        if (d / "Cargo.toml").is_file() and (d / "hearth" / "Cargo.toml").is_file():
            return d
    return None


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_binaries(config: pytest.Config, given: str | os.PathLike[str] | None) -> Binaries:
    """Finds the play's binaries, or raises :class:`BinaryNotFound` naming the missing one.

    A directory named explicitly (factory argument, ``--hearth-bin-dir``, ini, ``HEARTH_BIN_DIR``)
    is the only place looked in: a binary missing there is an error, never a silent fallback.
    """
    explicit: tuple[str, str] | None = None
    if given:
        explicit = ("the fixture factory's bin_dir", str(given))
    elif config.getoption("hearth_bin_dir", default=None):
        explicit = ("--hearth-bin-dir", str(config.getoption("hearth_bin_dir")))
    elif config.getini("hearth_bin_dir"):
        explicit = ("the ini value hearth_bin_dir", str(config.getini("hearth_bin_dir")))
    elif os.environ.get("HEARTH_BIN_DIR"):
        explicit = ("HEARTH_BIN_DIR", os.environ["HEARTH_BIN_DIR"])
    if explicit is not None:
        source, raw = explicit
        d = Path(raw).expanduser()
        if not d.is_absolute():
            d = config.invocation_params.dir / d
        paths = [d / name for name in BINARIES]
        for name, p in zip(BINARIES, paths, strict=True):
            if not _executable(p):
                raise BinaryNotFound(
                    f"the `{name}` binary is not in {d} ({source}): {p} "
                    f"{'is not executable' if p.exists() else 'does not exist'}",
                    hint=f"build it (`cargo build -p {name} --bins`, or `make build`) or point "
                    "--hearth-bin-dir / HEARTH_BIN_DIR at the directory that holds it",
                )
        hearth, worker, console = paths
        return Binaries(hearth, worker, console, source=f"{source} {d}")
    return _find_on_path_or_checkout(config)


def _find_on_path_or_checkout(config: pytest.Config) -> Binaries:
    """Each binary on ``PATH``, else in ``target/release`` of the checkout the run is in."""
    checkout = _checkout(config.rootpath) or _checkout(config.invocation_params.dir)
    release = checkout / "target" / "release" if checkout else None
    found: list[Path] = []
    for name in BINARIES:
        on_path = shutil.which(name)
        if on_path:
            found.append(Path(on_path))
        elif release is not None and _executable(release / name):
            found.append(release / name)
        else:
            where = f"PATH or {release}" if release else "PATH (and no hearth checkout is around)"
            raise BinaryNotFound(
                f"the `{name}` binary is not on {where}",
                hint="set --hearth-bin-dir or HEARTH_BIN_DIR to the directory holding hearth, "
                "console and worker-stub (e.g. target/debug after `make build`), or build "
                "them with `cargo build --release -p hearth -p console -p worker-stub --bins`",
            )
    hearth, worker, console = found
    return Binaries(hearth, worker, console, source="PATH / target/release")
