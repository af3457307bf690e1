"""Shared pieces of the benchmark harness: the run context, sections, tables, measured child processes.

Every section module (``accuracy``, ``calibrate``, ``speed``, ``scale``) exposes
``run(ctx: Context) -> Section``; ``benchmarks/run.py`` calls them in turn and writes RESULTS.md and
results.json from the sections it gets back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .data import DEFAULT_DATA

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"


@dataclass
class Context:
    """What every section gets.

    ``data``: the shared real-data folder (may be missing: sections then say so and skip what needs it);
    ``fixtures``: the repository's fixtures; ``work``: a scratch folder the section may fill;
    ``quick``: small inputs, so the whole harness runs in well under a minute (the test suite runs it);
    ``rounds``: timing rounds per measured method; ``seed``: for every random choice.
    """

    data: Path = DEFAULT_DATA
    fixtures: Path = FIXTURES
    work: Path = Path("bench-work")
    quick: bool = False
    rounds: int = 3
    seed: int = 20261123
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr, flush=True))

    @property
    def has_data(self) -> bool:
        return self.data.is_dir()


@dataclass
class Section:
    """A part of RESULTS.md: a title, its Markdown body, and the figures behind it (for results.json)."""

    title: str
    markdown: str
    data: dict[str, Any] = field(default_factory=dict)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A Markdown table; ``align`` is one character per column, ``l`` or ``r`` (default: first left, rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(map(str, header)) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,d}"
    return str(v).replace("|", "\\|").replace("\n", " ")


@dataclass(frozen=True)
class Measured:
    """One child process: wall seconds, peak resident memory in bytes, and the JSON it printed last.

    ``peak_rss`` is the child's own ``vm_hwm`` when its JSON carries one (see :func:`vm_hwm`), else
    what ``wait4`` reports, which can be the parent's peak instead."""

    seconds: float
    peak_rss: int
    result: dict[str, Any]


def run_measured(args: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Measured:
    """Run ``python args...`` as a child process; measure its wall time and peak RSS (``wait4``).

    The child must print one JSON object as its last stdout line; a non-zero exit raises with its stderr.
    """
    cmd = [sys.executable, *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=cwd, env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-3000:]}")
    lines = stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {}
    return Measured(seconds, int(result.pop("vm_hwm", 0)) or usage.ru_maxrss * 1024, result)


def vm_hwm() -> int:
    """This process's peak resident memory in bytes (``VmHWM``; 0 where /proc is missing).

    Children print it in their JSON. Not ``ru_maxrss``: on Linux, exec carries the spawning process's
    high-water mark into the new process's ``ru_maxrss`` (and into what ``wait4`` reports), so a child
    of a large parent would show at least the parent's peak. ``VmHWM`` is the child's own.
    """
    return proc_status("VmHWM")


def proc_status(name: str) -> int:
    """A memory field of ``/proc/self/status`` (``VmHWM``, ``RssAnon``, ...) in bytes; 0 where missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class AnonPeak:
    """Samples this process's anonymous resident memory (``RssAnon``) every ``interval`` seconds in a
    thread; ``peak`` is the highest seen (bytes). Unlike ``VmHWM`` it leaves out the pages of
    memory-mapped files (the index), which belong to the page cache and are dropped under memory
    pressure; what it misses between samples is short-lived."""

    def __init__(self, interval: float = 0.05) -> None:
        import threading

        self.peak = 0
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        return proc_status("RssAnon")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            self._stop.wait(self._interval)

    def __enter__(self) -> "AnonPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def posts_corpus_parser(doc: str | None) -> "argparse.ArgumentParser":
    """A command line that takes ``--posts`` and ``--corpus`` (JSONL files) and a ``--work`` folder, for the
    harnesses measured on the archive benchmark's inputs."""
    import argparse

    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    for name in ("--posts", "--corpus", "--work"):
        ap.add_argument(name, type=Path, required=True)
    return ap


def mib(n: float) -> float:
    return n / (1 << 20)


def median(values: Sequence[float]) -> float:
    s = sorted(values)
    k = len(s)
    return s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) / 2


def emit(section: Section, out: Path | None, started: float) -> None:
    """Write a section run on its own (``python -m benchmarks.<name>``) to ``out``, or to stdout."""
    text = f"## {section.title}\n\n{section.markdown.strip()}\n"
    if out is None:
        sys.stdout.write(text)
        return
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
