"""From arguments to input files: local files and folders and fsspec URLs (:func:`expand_inputs`), each
file's format and compression, sizes, and opening a file's raw bytes
(:func:`open_raw`, which the readers call as ``sources.open_raw``: one place to wrap it)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provenance.errors import InputError, ProvenanceError, Skipped

from .batch import InputFile
from .select import Selection, sniff_compressed
from .urls import READ_BLOCK, STREAMED, URL, is_url, url_error, url_size, url_to_fs

FORMATS = ("jsonl", "csv", "tsv", "parquet", "text", "lines")

_EXTENSIONS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv",
    ".parquet": "parquet", ".pq": "parquet", ".txt": "text",
}
_COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
_GLOB_MAGIC = frozenset("*?[")


def expand_inputs(paths: Sequence[str | Path], fmt: str | None = None, skipped: Skipped | None = None,
                  selection: Selection | None = None) -> list[InputFile]:
    """Turn file and directory arguments into input files.

    A directory contributes every supported, non-hidden file below it, sorted by path
    (with ``fmt`` given: every non-hidden file), as ``selection`` (:class:`~provenance.io.select.Selection`,
    default: no patterns) admits it: documentation files are left out (and listed in ``selection.left_out``),
    a file that looks like labels is refused (ParameterError) unless an ``--include`` pattern names it. A
    gzip/zstd file of unknown format is sniffed (JSONL if it starts with ``{``). ``fmt`` overrides all
    extensions. With ``skipped``, an argument that gives no file (missing, an empty folder, an unknown
    format) is counted there instead of raising, as long as some argument gives files.
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}' (use one of {', '.join(FORMATS)})")
    if not paths:
        raise InputError("no input files given")
    selection = selection if selection is not None else Selection()
    files: list[InputFile] = []
    for arg in paths:
        try:
            files.extend(_expand_one(arg, fmt, selection))
        except InputError as e:
            if skipped is None:
                raise
            skipped.add(e)
    selection.refuse_labels()
    files = regular_files_only(files, skipped)
    if not files:
        raise InputError(f"no input files (skipped: {'; '.join(skipped.first.values())})" if skipped else "no input files",
                         kind="missing_file")
    return files


def regular_files_only(files: list[InputFile], skipped: Skipped | None) -> list[InputFile]:
    """``files`` without the local FIFOs, sockets and devices among them (given, or found in a
    folder): each is an InputError (kind ``special_file``), or counted in ``skipped``. Such a file is
    never opened: reading a FIFO may wait forever, and a scan reads each input twice (to hash it)."""
    import stat

    kept = []
    for f in files:
        try:
            local = f.path if not isinstance(f.path, URL) else f.path.filesystem()[1] if f.path.protocol == "file" else None
            mode = os.stat(local).st_mode if local is not None else stat.S_IFREG
        except (OSError, InputError):  # missing or unreadable: the reader says so
            mode = stat.S_IFREG
        if stat.S_ISREG(mode):
            kept.append(f)
            continue
        what = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        error = InputError(f"{f.path}: {what}, not a regular file; give regular files (copy the stream into one)",
                           kind="special_file")
        if skipped is None:
            raise error
        skipped.add(error)
    return kept


def _expand_one(arg: str | Path, fmt: str | None, selection: Selection) -> list[InputFile]:
    if is_url(arg):
        return _expand_url(str(arg), fmt, selection)
    path = Path(arg)
    try:
        is_dir = path.is_dir() if path.exists() else None
    except OSError as e:
        raise InputError(f"{path}: {strerror(e)}") from None
    if is_dir is None:
        raise InputError(f"{path}: no such file or directory", kind="missing_file")
    if not is_dir:
        single = _classify(path, fmt, root=None, explicit=True)
        assert single is not None  # explicit=True raises instead
        return [] if selection.refuses(str(path), path.name, str(path), in_folder=False) else [single]
    found = _admitted([(p, p.relative_to(path).as_posix(), str(p)) for p in _walk(path)], fmt, path, selection)
    if not found:
        exts = ", ".join(sorted(_EXTENSIONS))
        raise InputError(f"{path}: no supported input files in directory (looked for {exts}{selection.unknown_hint()})",
                         kind="empty_directory")
    return found


def _admitted(members: list[tuple[Path | URL, str, str]], fmt: str | None, root: Path | URL | None,
              selection: Selection) -> list[InputFile]:
    """The input files among a folder's (or a glob's) ``members`` (path, path inside the folder, name to
    show) that ``selection`` admits and that have a format; the others are counted in ``selection``."""
    found = []
    for p, rel, shown in members:
        if not selection.admits(rel, p.name, shown):
            continue
        f = _classify(p, fmt, root=root, explicit=False)
        if f is None:
            selection.leave_out("unknown", shown)
        elif not selection.refuses(rel, p.name, shown):
            found.append(f)
    return found


def _walk(root: Path) -> list[Path]:
    """Non-hidden files below ``root``, sorted by path."""

    def fail(e: OSError) -> None:
        raise InputError(f"{e.filename}: {strerror(e)}")

    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=fail):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(Path(dirpath, n) for n in filenames if not n.startswith("."))
    return sorted(found)


def _expand_url(arg: str, fmt: str | None, selection: Selection) -> list[InputFile]:
    """The files a URL names: itself, the supported files below a folder URL (hidden ones
    skipped, sorted), or a glob pattern's matches."""
    url = URL(arg)
    fs, path = url.filesystem()
    if url.protocol not in STREAMED and _GLOB_MAGIC & set(arg.split("://", 1)[1]):
        magic = min(i for i, c in enumerate(arg) if c in _GLOB_MAGIC)
        base = arg[: arg.rfind("/", 0, magic) + 1]
        try:
            found = fs.glob(path, detail=True)
        except ValueError as e:
            raise InputError(f"{arg}: bad pattern ({e})") from None
        except Exception as e:  # noqa: BLE001
            raise url_error(url, e) from None
        files = _admitted([(u, u.url[len(base):], u.url) for u in _listed(fs, base, found)], fmt, None, selection)
        if not files:
            raise InputError(f"{arg}: no supported input files match", kind="missing_file")
        return files
    info = url.info()
    if info.get("type") != "directory" and not arg.endswith("/"):
        try:
            single = _classify(URL(arg, info.get("size")), fmt, root=None, explicit=True)
        except InputError as e:
            if url.protocol in STREAMED and "." not in url.name:
                raise InputError(f"{e} (an http folder URL ends in '/')") from None
            raise
        assert single is not None  # explicit=True raises instead
        return [] if selection.refuses(arg, single.path.name, arg, in_folder=False) else [single]
    try:
        found = fs.find(path, detail=True)
    except Exception as e:  # noqa: BLE001
        raise url_error(url, e) from None
    root = URL(arg.rstrip("/"))
    prefix = arg.rstrip("/") + "/"
    files = _admitted([(u, u.url[len(prefix):], u.url) for u in _listed(fs, arg, found)], fmt, root, selection)
    if not files:
        exts = ", ".join(sorted(_EXTENSIONS))
        raise InputError(f"{arg}: no supported input files in folder (looked for {exts}{selection.unknown_hint()})",
                         kind="empty_directory")
    return files


def _listed(fs: Any, base: str, found: dict[str, dict[str, Any]]) -> list[URL]:
    """The non-hidden files of an fsspec listing below the folder URL ``base``, as URLs spelled
    like ``base``, sorted."""
    base_path = url_to_fs(base)[1].rstrip("/") if base.split("://", 1)[1] else ""
    out = []
    for name, info in found.items():
        if info.get("type", "file") != "file":
            continue
        if base_path:
            if not name.startswith(base_path + "/"):
                continue  # a listing may hold neighbours sharing the prefix
            rel = name[len(base_path) + 1 :]
            url = base.rstrip("/") + "/" + rel
        else:
            rel = name.split("://", 1)[-1]
            url = name if "://" in name else fs.unstrip_protocol(name)
        if not any(part.startswith(".") for part in rel.split("/")):
            out.append(URL(url, info.get("size")))
    return sorted(out, key=lambda u: u.url.split("/"))  # as local folders: by path component


def _classify(path: Path | URL, fmt: str | None, root: Path | URL | None, explicit: bool) -> InputFile | None:
    """Format and compression of ``path``; None (directory) or InputError (file argument)
    when the format is unknown."""
    stem, compression = path.name.lower(), None
    for ext, comp in _COMPRESSIONS.items():
        if stem.endswith(ext):
            stem, compression = stem[: -len(ext)], comp
            break
    suffix = os.path.splitext(stem)[1]
    format_ = fmt or _EXTENSIONS.get(suffix)
    if format_ is None and compression:  # wiki_00.gz: the first decompressed bytes may say
        format_ = sniff_compressed(path, compression)
    if format_ is None:
        if not explicit:
            return None
        what = f"'{suffix}'" if suffix else "(no file extension)"
        inside = f"{compression}-compressed, and its first bytes are not JSON; " if compression else ""
        raise InputError(f"{path}: unknown format {what} ({inside}use --format one of {', '.join(FORMATS)})",
                         kind="wrong_format")
    if format_ == "parquet" and compression:
        raise InputError(f"{path}: parquet files cannot be gzip/zstd compressed (decompress it first)", kind="wrong_format")
    return InputFile(path, format_, compression, root)


def input_bytes(paths: Sequence[str | Path], fmt: str | None = None) -> int:
    """The on-disk size of the input files that ``paths`` (files, folders, URLs) give, as a progress
    bar's total; 0 when they cannot be listed (the build or scan itself reports, or skips, what is wrong)."""
    try:
        return total_bytes(expand_inputs(paths, fmt))
    except ProvenanceError:
        return 0


def total_bytes(files: Sequence[InputFile]) -> int:
    """Sum of the files' on-disk sizes (for a progress bar)."""
    return sum(path_size(f.path) for f in files)


def file_size(file: InputFile) -> int:
    """The on-disk (compressed) size of ``file`` or of its part (0 for a remote file whose server
    does not say)."""
    return file.part.nbytes if file.part is not None else path_size(file.path)


def describe(files: Sequence[InputFile]) -> str:
    """A one-line summary such as ``3 files (2 jsonl.gz, 1 parquet), 12.4 MB``."""
    suffix = {None: "", "gzip": ".gz", "zstd": ".zst"}
    kinds = Counter(f.format + suffix[f.compression] for f in files)
    parts = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    noun = "file" if len(files) == 1 else "files"
    return f"{len(files)} {noun} ({parts}), {_human_size(total_bytes(files))}"


def _human_size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            break
    return f"{size:.1f} {unit}"


def path_size(path: Path | URL) -> int:
    """The on-disk size of a local file or a URL (see :func:`url_size`)."""
    if isinstance(path, URL):
        return url_size(path)
    try:
        return path.stat().st_size
    except OSError as e:
        raise InputError(f"{path}: {strerror(e)}") from None


def strerror(e: OSError) -> str:
    """An OSError's message, for a one-line error (``no such file or directory``)."""
    return (e.strerror or str(e)).lower()


def open_raw(path: Path | URL) -> Any:
    """A raw binary stream of the file: unbuffered local file, or an fsspec file reading
    sequentially in large requests."""
    if isinstance(path, URL):
        fs, fs_path = path.filesystem()
        options = {"block_size": 0} if path.protocol in STREAMED else {"block_size": READ_BLOCK, "cache_type": "readahead"}
        try:
            return fs.open(fs_path, "rb", **options)
        except Exception as e:  # noqa: BLE001
            raise url_error(path, e) from None
    try:
        return open(path, "rb", buffering=0)
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file or directory", kind="missing_file") from None
    except OSError as e:
        raise InputError(f"{path}: {strerror(e)}") from None
