"""Peak memory (RSS) of the cases of benchmarks/MEMORY.md: one long record, a decompression bomb, a scan
with many matches. Each run is a fresh ``python -m provenance.cli`` process; its peak RSS is the
kernel's (``os.wait4``), so nothing of this process is counted. ``--code DIR`` runs another checkout
of the package (``PYTHONPATH=DIR``), e.g. the code before a change; ``--limit-gb`` caps the address
space of the run (RLIMIT_AS), so that a run that would take all the machine's memory fails instead.

    python -m benchmarks.memory record --mb 200 --format jsonl --work mem-work
    python -m benchmarks.memory bomb --gb 10 --compression zstd --work mem-work [--build]
    python -m benchmarks.memory matches -n 1000000 --work mem-work

Inputs are generated once into ``--work`` (posts from :mod:`benchmarks.synth`; the long record repeats
post texts; the bomb is zeros, compressed as a stream; the many-matches corpus is a lines file whose
every line is a post).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import synth

POSTS = 10_000
SEED = 1


def posts_and_index(work: Path, code: str | None) -> tuple[Path, Path]:
    """The synthetic posts (CSV) and an index of them (built once)."""
    posts, index = work / "posts.csv", work / "idx"
    if not posts.exists():
        synth.write_posts(posts, POSTS, SEED)
    if not (index / "manifest.json").exists():
        run(["index", "build", str(posts), "-o", str(index), "--id-field", "id", "--force", "-q"], code, None)
    return posts, index


def long_record(work: Path, mb: int, fmt: str) -> Path:
    """One record of ``mb`` MiB of words (post texts one after the other), as JSONL, lines or text."""
    suffix = {"jsonl": ".jsonl", "lines": ".lines", "text": ".txt"}[fmt]
    path = work / f"record{mb}{suffix}"
    if path.exists():
        return path
    texts = synth.post_texts(SEED, POSTS)
    piece = b" ".join(texts) + b" "
    target = mb << 20
    body = piece * (target // len(piece)) + piece[: target % len(piece)]
    with open(path, "wb") as f:
        if fmt == "jsonl":
            f.write(b'{"id": "long", "text": "' + body + b'"}\n')
        else:
            f.write(body + b"\n")
    return path


def bomb(work: Path, gb: int, compression: str) -> Path:
    """``gb`` GiB of zero bytes compressed as one ``.jsonl.gz`` or ``.jsonl.zst`` (written as a stream)."""
    path = work / f"bomb{gb}.jsonl.{'gz' if compression == 'gzip' else 'zst'}"
    if path.exists():
        return path
    block = bytes(64 << 20)
    tmp = path.with_name(path.name + ".tmp")
    if compression == "gzip":
        with gzip.open(tmp, "wb", compresslevel=9) as f:
            for _ in range(gb * 16):
                f.write(block)
    else:
        import zstandard

        with open(tmp, "wb") as raw, zstandard.ZstdCompressor(level=19).stream_writer(raw) as f:
            for _ in range(gb * 16):
                f.write(block)
    os.replace(tmp, path)
    return path


def many_matches(work: Path, n: int) -> Path:
    """A lines file of ``n`` lines, line ``i`` the text of post ``i % POSTS``: about one match a line."""
    path = work / f"matches{n}.lines"
    if path.exists():
        return path
    texts = synth.post_texts(SEED, POSTS)
    with open(path, "wb") as f:
        for start in range(0, n, POSTS):
            f.write(b"\n".join(texts[: min(POSTS, n - start)]) + b"\n")
    return path


def run(args: list[str], code: str | None, limit_gb: float | None) -> dict:
    """``provenance ARGS`` in a fresh process: exit code, peak RSS (MiB), seconds, last stderr line."""
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = code
    limit = int(limit_gb * (1 << 30)) if limit_gb else None

    def cap() -> None:
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "provenance.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=cap, cwd=code)  # (python -m puts the cwd first)
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"exit": proc.returncode, "peak_rss_mib": round(usage.ru_maxrss / 1024), "seconds": round(time.perf_counter() - t0, 1),
            "stderr": err[-1][:300] if err else ""}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("case", choices=("record", "bomb", "matches"))
    ap.add_argument("--work", default="mem-work")
    ap.add_argument("--code", default=None, help="run the package found in this directory (PYTHONPATH)")
    ap.add_argument("--limit-gb", type=float, default=None)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--format", default="jsonl", choices=("jsonl", "lines", "text"))
    ap.add_argument("--gb", type=int, default=10)
    ap.add_argument("--compression", default="gzip", choices=("gzip", "zstd"))
    ap.add_argument("--build", action="store_true", help="bomb: run an index build of it instead of a scan")
    ap.add_argument("-n", type=int, default=1_000_000)
    a, extra = ap.parse_known_args(argv)  # the rest: more provenance options (--on-error skip, ...)
    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    _, index = posts_and_index(work, a.code)
    out = work / "out"
    if a.case == "record":
        path = long_record(work, a.mb, a.format)
        args = ["scan", str(index), str(path), "-o", str(out), "--force", "-q", "--format", a.format]
    elif a.case == "bomb":
        path = bomb(work, a.gb, a.compression)
        if a.build:
            args = ["index", "build", str(path), "-o", str(work / "bomb-idx"), "--force", "-q"]
        else:
            args = ["scan", str(index), str(path), "-o", str(out), "--force", "-q"]
    else:
        path = many_matches(work, a.n)
        args = ["scan", str(index), str(path), "-o", str(out), "--force", "-q", "--format", "lines"]
    result = run(args + extra, a.code, a.limit_gb)
    if a.case == "matches" and result["exit"] == 0:
        result["matches"] = json.loads((out / "summary.json").read_text())["matches"]
    print(json.dumps({"case": a.case, "input": str(path), "input_mib": round(path.stat().st_size / (1 << 20), 1),
                      "code": a.code or "installed", **result}))


if __name__ == "__main__":
    main()
