"""Start-up: `provenance --help`, usage errors and `import provenance` do not import the heavy
libraries (numpy, polars, rich, dask, fsspec, pyarrow); the API is still there on first use. (typer itself
imports pydantic once it parses a command's parameters: not ours to avoid.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("numpy", "polars", "rich", "dask", "distributed", "fsspec", "pyarrow", "provenance.api")


def _imported_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint('IMPORTED', json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("IMPORTED "), proc.stdout + proc.stderr
    return json.loads(last[len("IMPORTED "):])


@pytest.mark.parametrize("args", [["--help"], ["scan", "--help"], ["index", "build", "--help"], ["--version"], [],
                                  ["scan"], ["no-such-command"]])
def test_cli_start_imports_nothing_heavy(args: list[str]) -> None:
    code = (f"import sys; sys.argv = ['provenance', *{args!r}]\nfrom provenance.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass")
    assert _imported_after(code) == []


def test_package_import_is_light_and_the_api_lazy() -> None:
    assert _imported_after("import provenance\nfrom provenance import InputError, ScanParams, Key") == []
    assert "provenance.api" in _imported_after("import provenance\nassert callable(provenance.scan)")
    assert "provenance.api" in _imported_after("from provenance import build_index, ScanResult")


def test_the_api_names_stay_the_functions_after_every_subpackage_is_imported() -> None:
    """``provenance.scan`` was replaced by the ``provenance/scan/`` subpackage once that was imported (the
    second call of README's example failed with "'module' object is not callable")."""
    code = ("import importlib, pkgutil, provenance\n"
            "for m in pkgutil.walk_packages(provenance.__path__, 'provenance.'):\n"
            "    if not m.name.startswith('provenance.cli'):\n"
            "        importlib.import_module(m.name)\n"
            "from provenance import api\n"
            "for name in ('build_index', 'open_index', 'scan', 'scan_texts'):\n"
            "    assert getattr(provenance, name) is getattr(api, name), name\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
