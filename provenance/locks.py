"""Who may use a directory at once: one writer, or any number of readers.

An index build or append (``index build -o IDX``) and a scan writing its results (``scan -o OUT``)
hold an *exclusive* lock on their directory; a scan holds a *shared* lock on the index it reads, so
that no build replaces that index under it (and no scan starts while a build writes it). The locks
are the operating system's (``flock`` on ``DIR/.provenance.lock``): they end with the process that
holds them, however it ends, so a killed run never leaves a lock behind. Who holds a lock (pid, host,
command, since when) is written beside it, one file per holder (``DIR/.provenance-holder.HOST-PID``),
for the one-line error a second writer gets; the files of processes of this host that are gone are
removed by the next run that takes the lock.

Where the file system has no ``flock`` (some network file systems), the holder files alone decide:
a live holder of this host, or any holder of another host, refuses the directory.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import re
import shlex
import socket
import sys
from pathlib import Path

from .errors import ProvenanceError

__all__ = ["LOCK_NAME", "HOLDER_PREFIX", "DirectoryInUse", "DirLock", "held_by", "is_lock_file", "lock_directory"]

LOCK_NAME = ".provenance.lock"
HOLDER_PREFIX = ".provenance-holder."
_HOST = socket.gethostname() or "host"
_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


class DirectoryInUse(ProvenanceError):
    """Another process holds the directory (a build, an append, a scan)."""


def is_lock_file(name: str) -> bool:
    """Whether a file name in a directory is one of the lock's (not content of the directory)."""
    return name == LOCK_NAME or name.startswith(HOLDER_PREFIX)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:40] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DirLock:
    """A lock held on a directory (see the module docstring); :meth:`release` ends it (also on exit
    of a ``with`` block). A process that ends releases its locks too."""

    def __init__(self, directory: Path, fd: int | None, holder: Path | None, created: bool) -> None:
        self.directory, self._fd, self._holder, self._created = directory, fd, holder, created

    def __enter__(self) -> "DirLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._holder is not None:
            _unlink(self._holder)
            self._holder = None
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                # The last holder removes the lock file (only its own: the directory may have been
                # swapped for a new index meanwhile); a process that opened it before retries.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _same_file(fd, self.directory / LOCK_NAME):
                    _unlink(self.directory / LOCK_NAME)
            except OSError:
                pass
            finally:
                os.close(fd)
        if self._created:  # a directory made for the lock that nothing was written into
            self._created = False
            try:
                os.rmdir(self.directory)
            except OSError:
                pass


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def lock_directory(directory: str | Path, use: str, *, shared: bool = False, create: bool = True) -> DirLock:
    """Lock ``directory`` for ``use`` (what the holder does, such as ``"a scan reading it"``, shown to
    the next process that wants it): shared
    (readers) or exclusive. ``create``: make the directory if missing (it is removed again at release
    if it is still empty). A directory another process holds against this use is a
    :class:`DirectoryInUse` naming that process; a directory no lock can be written into (read-only)
    is used without one."""
    directory = Path(directory)
    created = False
    if directory.exists() and not directory.is_dir():
        raise ProvenanceError(f"{directory}: exists and is not a directory")
    if create and not directory.exists():
        try:
            directory.mkdir(parents=True)
            created = True
        except FileExistsError:
            pass
        except OSError as e:
            raise ProvenanceError(f"{directory}: cannot create directory ({e.strerror or e})") from None
    for _ in range(100):  # (retried only when a holder removed the lock file between open and lock)
        fd = _open_lock(directory / LOCK_NAME)
        if fd is None:  # a read-only directory: nobody can write into it either
            return DirLock(directory, None, None, False)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DirectoryInUse(_refusal(directory)) from None
            if e.errno not in _NO_FLOCK:
                raise ProvenanceError(f"{directory / LOCK_NAME}: cannot lock ({e.strerror or e})") from None
            return _by_holder_files(directory, use, shared, created)
        if not _same_file(fd, directory / LOCK_NAME):
            os.close(fd)
            continue
        _remove_dead_holders(directory)
        return DirLock(directory, fd, _write_holder(directory, use, shared), created)
    raise DirectoryInUse(_refusal(directory))


def held_by(directory: str | Path) -> str | None:
    """One line naming who holds ``directory`` exclusively (a build writing it), or None when nobody does."""
    directory = Path(directory)
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        return _refusal(directory) if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else None
    finally:
        os.close(fd)
    return None


def _open_lock(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except FileNotFoundError:
        raise ProvenanceError(f"{path.parent}: no such directory") from None
    except (PermissionError, OSError) as e:
        if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise ProvenanceError(f"{path}: cannot open the lock file ({e.strerror or e})") from None
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # flock works on a read-only descriptor too
    except OSError:
        return None


def _by_holder_files(directory: Path, use: str, shared: bool, created: bool) -> DirLock:
    """The lock where ``flock`` is not supported: refused while another holder is recorded."""
    _remove_dead_holders(directory)
    others = [h for h in _holders(directory) if not (shared and h.get("shared"))]
    if others:
        raise DirectoryInUse(_refusal(directory))
    return DirLock(directory, None, _write_holder(directory, use, shared), created)


def _write_holder(directory: Path, use: str, shared: bool) -> Path | None:
    path = directory / f"{HOLDER_PREFIX}{_safe(_HOST)}-{os.getpid()}"
    record = {"use": use, "pid": os.getpid(), "host": _HOST, "shared": shared,
              "command": _command(), "since": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    try:
        path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    except OSError:
        return None  # (only the words of the next refusal are lost)
    return path


def _command() -> str:
    argv = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    if argv[0] == "-c":  # python -c CODE: the interpreter's own command line
        argv = [os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.orig_argv)]
    text = shlex.join(argv)
    return text if len(text) <= 200 else text[:199] + "…"


def _holders(directory: Path) -> list[dict]:
    out = []
    try:
        names = sorted(p for p in directory.iterdir() if p.name.startswith(HOLDER_PREFIX))
    except OSError:
        return out
    for p in names:
        try:
            record = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("pid"), int):
            out.append(record)
    return out


def _remove_dead_holders(directory: Path) -> None:
    """Remove the holder files of processes of this host that are gone (their locks went with them)."""
    for p in directory.glob(f"{HOLDER_PREFIX}{_safe(_HOST)}-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            _unlink(p)


def _refusal(directory: Path) -> str:
    """One line: who holds ``directory``."""
    live = [h for h in _holders(directory) if h.get("host") != _HOST or _alive(h["pid"])]
    live.sort(key=lambda h: bool(h.get("shared")))  # a writer first: it is the one in the way of anyone
    if not live:
        return f"{directory}: in use by another process (its lock is held; no holder recorded); try again when it ends"
    h = live[0]
    more = f" and {len(live) - 1} more" if len(live) > 1 else ""
    return (f"{directory}: in use by {h.get('use', 'another run')} (pid {h['pid']} on {h.get('host')}, "
            f"since {h.get('since')}: {h.get('command')}){more}; try again when it ends")
