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
