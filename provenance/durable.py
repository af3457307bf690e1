"""Files that survive a crash and tell when they are damaged.

* :func:`atomic_write` writes a file under a temporary name in the same folder, fsyncs it, renames it
  into place and fsyncs the folder: a reader sees the old file or the whole new one, never a part,
  even after a ``kill -9`` or a power cut.
* Temporary names carry the host and process id (:func:`temp_prefix`), so that the next run can
  remove what a killed run left (:func:`remove_stale`) without touching a live run's files.
* :func:`exchange` swaps two directories in one step where Linux allows (``renameat2`` with
  ``RENAME_EXCHANGE``), so that replacing an index never leaves a moment without one.
* *Sealed* JSON (:func:`sealed_json`, :func:`unseal`) carries the sha256 of its own content under
  :data:`SEAL` and is written in one canonical form, so flipping any byte of it is detected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import threading
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Callable

import polars as pl

from .errors import ProvenanceError

__all__ = ["SEAL", "OutputError", "DamagedFile", "atomic_write", "write_json", "write_sealed", "sealed_json", "unseal",
           "canonical_json",
           "fsync_dir", "sha256_of", "temp_prefix", "remove_stale", "exchange", "umask", "write_failure"]

SEAL = "self_sha256"
"""Key of a sealed JSON file's own checksum: sha256 of the canonical JSON of everything else."""


class OutputError(ProvenanceError):
    """A result file could not be written (full disk, no permission, ...)."""


class DamagedFile(ProvenanceError):
    """A file does not match its checksum or is not in its canonical form."""


def umask() -> int:
    """The process umask (read without changing it for long)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40] or "host"


def temp_prefix(name: str) -> str:
    """Prefix of a temporary file or folder for ``name``: ``.NAME.HOST-PID.`` (see :func:`remove_stale`)."""
    return f".{name}.{_HOST}-{os.getpid()}."


def remove_stale(folder: Path, name: str | None = None) -> int:
    """Remove the temporary files and folders for ``name`` (for any name: None) in ``folder`` that a
    process of this host left when it was killed (its pid is gone); returns how many. Others' are
    left alone."""
    removed = 0
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    named = re.escape(f".{name}.") if name is not None else r"\..+\."
    pattern = re.compile(named + r"(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.[^.]*\.tmp$")
    for entry in entries:
        m = pattern.match(entry.name)
        if not m or m["host"] != _HOST or _alive(int(m["pid"])):
            continue
        try:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def fsync_dir(path: Path) -> None:
    """fsync a folder, so that a rename into it survives a crash (where the system supports it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[str], Any]) -> None:
    """Write ``path`` through ``write(tmp_name)`` on a temporary name, fsync, then rename into place
    (and fsync the folder): ``path`` is the old file or the whole new one, never a part. A write that
    fails (a full disk, ...) leaves no temporary file and raises :class:`OutputError`."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except (OSError, pl.exceptions.PolarsError) as e:
        _unlink(tmp)
        raise OutputError(f"{path}: cannot write ({write_failure(e)})") from None
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_failure(e: BaseException) -> str:
    """The OS's words for a failed write (polars wraps them: '... IO error: File too large (os error 27)')."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    m = re.search(r"error: ([^:()]+) \(os error \d+\)", text)
    return m.group(1) if m else text


def sha256_of(path: Path) -> str:
    """sha256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON (keys in the order given), atomically."""
    text = json.dumps(data, indent=2) + "\n"
    atomic_write(path, lambda p: Path(p).write_text(text, encoding="utf-8"))


# ------------------------------------------------------------------------------------------- sealed


def canonical_json(data: dict[str, Any]) -> bytes:
    """The one form sealed JSON is written in (keys sorted, ASCII): the bytes a seal is made over."""
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("ascii")


_canonical = canonical_json


def sealed_json(data: dict[str, Any]) -> bytes:
    """The canonical bytes of ``data`` with its own sha256 under :data:`SEAL`."""
    body = {k: v for k, v in data.items() if k != SEAL}
    return _canonical({**body, SEAL: hashlib.sha256(_canonical(body)).hexdigest()})


def write_sealed(path: Path, data: dict[str, Any]) -> None:
    raw = sealed_json(data)
    atomic_write(path, lambda p: Path(p).write_bytes(raw))


def unseal(raw: bytes, path: Path | str, what: str = "file") -> dict[str, Any]:
    """The content of a sealed JSON file (without its seal); :class:`DamagedFile` when any byte differs
    from what was written."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise DamagedFile(f"{path}: damaged {what} (not JSON: {e})") from None
    if not isinstance(data, dict) or not isinstance(data.get(SEAL), str):
        raise DamagedFile(f"{path}: damaged {what} (no '{SEAL}' checksum)")
    body = {k: v for k, v in data.items() if k != SEAL}
    if _canonical(data) != raw or hashlib.sha256(_canonical(body)).hexdigest() != data[SEAL]:
        raise DamagedFile(f"{path}: damaged or altered {what} (its content differs from its '{SEAL}' checksum)")
    return body


# ----------------------------------------------------------------------------------------- exchange

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange(a: Path, b: Path) -> bool:
    """Swap the directories ``a`` and ``b`` in one atomic step; False where the system cannot (then
    the caller renames in two steps)."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not on this file system or kernel
        return False
    raise OSError(err, os.strerror(err), str(a))


class BackgroundCheck:
    """``fn(*args)`` in a daemon thread (hashing releases the GIL): :meth:`result` waits and re-raises
    its exception. A daemon, so that a process stopping on an error does not wait for it."""

    def __init__(self, fn: Callable[..., None], *args: Any) -> None:
        self._error: BaseException | None = None

        def run() -> None:
            try:
                fn(*args)
            except BaseException as e:  # handed to result()
                self._error = e

        self._thread = threading.Thread(target=run, name="index-sha256", daemon=True)
        self._thread.start()

    def result(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error
