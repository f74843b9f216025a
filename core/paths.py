"""Where Pneumoscope keeps things: bundled read-only resources and per-user folders."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import platformdirs

APP_NAME = "Pneumoscope"
APP_AUTHOR = "Pneumoscope"


def install_root() -> Path:
    """Folder holding ``models/`` and ``resources/``: the repo checkout, or the frozen app's folder."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    return install_root() / "resources"


def default_bundle_dir() -> Path:
    return install_root() / "models" / "default"


def _override(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value) if value else None


def user_data_dir() -> Path:
    """Per-user data folder (``PNEUMOSCOPE_HOME`` overrides it, for tests and portable use)."""
    home = _override("PNEUMOSCOPE_HOME")
    path = home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_config_dir() -> Path:
    home = _override("PNEUMOSCOPE_HOME")
    path = home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_log_dir() -> Path:
    home = _override("PNEUMOSCOPE_HOME")
    path = home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_models_dir() -> Path:
    path = user_data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def audit_log_path() -> Path:
    return user_log_dir() / "audit.jsonl"


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it; keep the window small and serialised
        old = os.umask(0o077)
        os.umask(old)
    return old


def apply_umask(path: str | os.PathLike, mode: int = 0o666) -> None:
    """Give a file made by ``tempfile.mkstemp`` (always 0600) the mode a plain ``open()`` would have.

    Atomic writes go through a private temporary file; without this the user's report or CSV
    would end up readable by its owner only, whatever their umask says.
    """
    os.chmod(path, mode & ~current_umask())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (a PDF backend, GDCM):
    renamed over ``path`` only when the block ends without an error and the file is there,
    removed otherwise. The writer creates the file itself, so it gets the user's umask."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {dest}")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", fsync: bool = False, **kwargs: Any) -> Iterator[IO[Any]]:
    """Write ``path`` all or nothing: a temporary file beside it, renamed over it only when the
    block ends without an error (removed otherwise). A plain exclusive ``open`` is used, not
    ``mkstemp``, so the file gets the user's umask."""
    with atomic_path(path) as tmp, open(tmp, mode.replace("w", "x"), **kwargs) as fh:
        yield fh
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())

try:  # POSIX only; on Windows the O_APPEND write alone has to do
    import fcntl as _fcntl
except ImportError:  # pragma: no cover
    _fcntl = None  # type: ignore[assignment]


def append_line(path: str | os.PathLike, line: bytes) -> None:
    """Append one whole line to a journal (audit log, feedback log, node worklist): a single
    ``os.write`` to a file opened ``O_APPEND`` under an advisory ``flock``, then fsynced, so two
    processes writing at once never glue half lines together and a crash tears at most the last.
    If an earlier writer died mid-line, this one starts on a fresh line (readers skip the torn one).

    Raises ``OSError`` (a partial write as ``ENOSPC``); callers say what the file was."""
    import errno

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if _fcntl is not None:
            # The lock makes the torn-line check exact: without it fstat can see another
            # writer's line half-copied and we would add a needless blank line.
            _fcntl.flock(fd, _fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        if os.write(fd, line) != len(line):
            raise OSError(errno.ENOSPC, "only partly written (disk full?)")
        os.fsync(fd)
    finally:
        os.close(fd)  # also releases the flock
