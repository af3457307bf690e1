"""The package's layout, read from its import statements (those inside functions too): no import
circle, no private name used across modules, the stages' packages import only the ones below them
(io < text < index < match < scanner < results < api < cli), and no module grows past a size one can
hold in mind."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "provenance"
STAGES = ["io", "text", "index", "match", "scanner", "results", "api", "demo", "cli"]
LEVEL = {"io": 0, "text": 1, "index": 2, "match": 3, "scanner": 4, "results": 5, "api": 6, "demo": 6, "cli": 7}
MAX_LINES = 450


def modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def imports(mods: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """Each module's imported modules of the package, and the private names imported across modules."""
    graph: dict[str, set[str]] = {}
    private: list[str] = []
    for name, f in mods.items():
        here = name.split(".") if f.name == "__init__.py" else name.split(".")[:-1]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                if not target.startswith("provenance"):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in mods:
                        edges.add(sub)
                        continue
                    edges.add(target)
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        private.append(f"{name} imports {target}.{alias.name}")
            elif isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name.startswith("provenance")}
        graph[name] = {e for e in edges if e in mods and e != name}
    return graph, private


def test_no_import_circle_and_no_private_names_across_modules() -> None:
    graph, private = imports(modules())
    assert private == []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, "import circle: " + " -> ".join(path + [n])
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_stages_import_only_the_stages_below_them() -> None:
    graph, _ = imports(modules())
    stage = lambda m: m.split(".")[1] if m.count(".") else None  # noqa: E731
    upward = [f"{a} -> {b}" for a, bs in graph.items() for b in bs
              if stage(a) in LEVEL and stage(b) in LEVEL and LEVEL[stage(a)] < LEVEL[stage(b)]]
    assert upward == []
    # the modules beside the stages (errors, params, keys, arrays, durable, version) import no stage
    shared = [f"{a} -> {b}" for a, bs in graph.items() for b in bs
              if a.count(".") == 1 and stage(a) not in LEVEL and stage(b) in LEVEL]
    assert shared == []


def test_no_module_is_larger_than_one_can_hold_in_mind() -> None:
    sizes = {m: len(f.read_text(encoding="utf-8").splitlines()) for m, f in modules().items()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}
