"""Shared fixtures: fixture paths, how to run the CLI, and the 3,000 fixture posts indexed once per
session (once through the CLI for tests/test_cli.py, once through the API for tests/test_index.py).

How the suite runs (pyproject.toml, [tool.pytest.ini_options]): ``pytest`` runs in parallel with
pytest-xdist (``-n auto``, at most 4 worker processes, ``--dist loadfile``), and leaves out the tests
marked ``bench`` (``-m "not bench"``), which .ci/run runs right after with ``pytest -m bench``.
``pytest -n 0`` runs everything in this one process (for ``--pdb`` or ``-s``).

Rules that keep a new test right under xdist (each worker is its own process):
- All the tests of one file run in the same worker, in file order: a ``scope="module"`` fixture is built
  once, as in a serial run. A ``scope="session"`` fixture (the ones below) is built once PER WORKER, so
  keep it cheap, build it under ``tmp_path_factory`` and never change what it returns (tests of other
  files share it). Never rely on another file's tests having run first.
- Write only below ``tmp_path`` / ``tmp_path_factory`` (per worker and per test), never to a fixed path
  (``/tmp/name``, the repository, the current directory: run the CLI with ``cwd=tmp_path``).
- Servers listen on port 0 (the OS picks a free port); never a fixed port.
- Environment variables and the current directory only through ``monkeypatch`` (or a subprocess's
  ``env=`` / ``cwd=``).
- A test that runs a whole benchmark section (benchmarks/) gets ``@pytest.mark.bench``; everything
  else stays in the default run.
- A command whose output, files, messages or exit status are what a test checks runs in this process
  with ``run_cli_here`` (each new process costs about a second of CPU to start and import); ``run_cli``
  (a new process) is for tests of the process itself: start-up, signals, kills, several at once, or a
  state no earlier call in this process may have left (a test that the CLI runs as a subprocess at all:
  tests/test_cli.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "fixtures"
POSTS_CSV = FIX / "posts" / "airline_tweets.csv"
PLANTED = FIX / "planted" / "corpus.jsonl.gz"
TRUTH_CSV = FIX / "planted" / "truth.csv"
HARD_CSV = FIX / "planted" / "hard_negatives.csv"


def cli_command() -> list[str]:
    """The installed ``provenance`` script (next to this interpreter first), else ``python -m provenance.cli``."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    script = shutil.which("provenance", path=search)
    return [script] if script else [sys.executable, "-m", "provenance.cli"]


def run_cli(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the CLI with ``args``; never raises on a non-zero exit status."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("PROVENANCE_DEBUG", "PROVENANCE_FIXTURES")}
    full_env.update(env or {})
    return subprocess.run([*cli_command(), *map(str, args)], cwd=cwd, env=full_env, capture_output=True,
                          text=True, encoding="utf-8", errors="replace", timeout=timeout)


def run_cli_here(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``provenance ARGS`` run by ``provenance.cli.main`` in this process (as ``run_cli`` runs it in a new
    one): the same argument parsing, messages and exit status, without a Python start-up and the imports
    (about a second each). For tests of what a command says and writes; a test of the process itself
    (start-up, signals, kills, several processes at once) uses ``run_cli``. Never raises on a non-zero exit."""
    import contextlib
    import io
    import signal

    from provenance import cli

    out, err = io.StringIO(), io.StringIO()
    saved_env = {k: os.environ.pop(k) for k in ("PROVENANCE_DEBUG", "PROVENANCE_FIXTURES") if k in os.environ}
    saved = sys.argv, os.getcwd(), signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    sys.argv = ["provenance", *map(str, args)]
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main()
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = saved[0]
        os.chdir(saved[1])
        signal.signal(signal.SIGINT, saved[2])
        signal.signal(signal.SIGTERM, saved[3])
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["provenance", *map(str, args)], code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class BuiltIndex:
    path: Path
    proc: subprocess.CompletedProcess[str] | None = None


@pytest.fixture(scope="session")
def cli_index(tmp_path_factory: pytest.TempPathFactory) -> BuiltIndex:
    """The fixture posts indexed by ``provenance index build`` (exit status checked by the tests)."""
    out = tmp_path_factory.mktemp("cli-index") / "IDX"
    proc = run_cli("index", "build", POSTS_CSV, "-o", out, "--id-field", "tweet_id",
                   "--meta-field", "name", "--meta-field", "tweet_created", "-q", cwd=out.parent)
    return BuiltIndex(out, proc)


@pytest.fixture(scope="session")
def jaccard_index(tmp_path_factory: pytest.TempPathFactory):
    """``(index, its directory)``: the fixture posts indexed with MinHash signatures and LSH bands
    (``IndexParams(jaccard=True)``, what ``--mode jaccard`` needs)."""
    from provenance import api
    from provenance.params import IndexParams

    out = tmp_path_factory.mktemp("jaccard-index") / "idx"
    index = api.build_index([POSTS_CSV], out, id_field="tweet_id", meta_fields=["name"], params=IndexParams(jaccard=True))
    return index, out


@pytest.fixture(scope="session")
def api_index(tmp_path_factory: pytest.TempPathFactory):
    """``(index returned by api.build_index, its directory)`` for the fixture posts."""
    from provenance import api

    out = tmp_path_factory.mktemp("api-index") / "idx"
    index = api.build_index([POSTS_CSV], out, id_field="tweet_id", meta_fields=["name"])
    return index, out
