"""How the suite itself runs: README command 2 (``pytest``) runs in parallel with pytest-xdist, which the
test extra installs; the benchmark-sized tests it leaves out (marked ``bench``) are still run by CI."""

from __future__ import annotations

import shlex
import tomllib

from conftest import REPO


def _config() -> tuple[list[str], list[str], list[str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    options = project["tool"]["pytest"]["ini_options"]
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    return shlex.split(options["addopts"]), project["project"]["optional-dependencies"]["test"], ci


def test_the_test_extra_installs_what_addopts_needs() -> None:
    addopts, extra, _ = _config()
    assert "-n" in addopts  # parallel by default ...
    assert any(req.startswith("pytest-xdist") for req in extra)  # ... so a fresh `.[test]` install has xdist


def test_tests_left_out_of_pytest_are_run_by_ci() -> None:
    addopts, _, ci = _config()
    readme_command = "pip install -e '.[test]' && pytest"
    assert readme_command in ci
    after = ci[ci.index(readme_command) + 1:]
    marks = [addopts[i + 1] for i, a in enumerate(addopts) if a == "-m"]
    for mark in marks:  # e.g. "not bench": CI then runs `pytest -m bench`
        assert mark.startswith("not "), mark
        assert f"pytest -m {mark[4:]}" in after, (mark, after)
