"""Every runnable example of README.md and docs/*.md runs, so that the documentation cannot drift from
the code. A block fenced as ```python is run with this interpreter; a block fenced as ```bash is run
by bash with the installed ``provenance`` first on PATH. Plain ``` blocks (output, abridged tables,
commands over ../shared/data) are not run. Each page's blocks run in order in one scratch directory that
holds ``posts.csv`` (the fixture airline tweets), ``corpus/`` (the planted fixture corpus) and ``fixtures/``
(the repository's), the names the examples use."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PLANTED, POSTS_CSV, REPO, cli_command

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(python|bash)\n(.*?)^```$", re.M | re.S)


def blocks(page: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(page.read_text(encoding="utf-8"))]


def test_the_readme_has_runnable_python_and_shell_examples() -> None:
    kinds = {kind for kind, _ in blocks(REPO / "README.md")}
    assert kinds == {"python", "bash"}


def _scratch(tmp_path: Path) -> Path:
    shutil.copy(POSTS_CSV, tmp_path / "posts.csv")
    (tmp_path / "corpus").mkdir()
    shutil.copy(PLANTED, tmp_path / "corpus" / PLANTED.name)
    (tmp_path / "fixtures").symlink_to(REPO / "fixtures")  # the bundled data, as the examples name it
    return tmp_path


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: p.name)
def test_every_example_on_the_page_runs(page: Path, tmp_path: Path) -> None:
    work = _scratch(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PROVENANCE_DEBUG", "PROVENANCE_FIXTURES")}
    env["PATH"] = os.pathsep.join([str(Path(cli_command()[0]).parent), str(Path(sys.executable).parent),
                                   env.get("PATH", "")])
    env["PYTHONPATH"] = str(REPO)
    for n, (kind, code) in enumerate(blocks(page)):
        command = [sys.executable, "-c", code] if kind == "python" else ["bash", "-euo", "pipefail", "-c", code]
        proc = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{page.name} block {n} ({kind}) failed:\n{code}\n{proc.stdout}\n{proc.stderr}"
