"""Project-wide rules: no pickle/eval in the package, README opens with the two commands, every
summary field and match column docs/OUTPUTS.md documents is the one the code writes, README is one page
whose links all resolve."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import provenance
from provenance.results.outputs import MATCH_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "provenance"
README = (ROOT / "README.md").read_text(encoding="utf-8")
OUTPUTS = (ROOT / "docs" / "OUTPUTS.md").read_text(encoding="utf-8")  # the column and field tables


def _calls_and_imports(path: Path) -> tuple[set[str], set[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls, imports = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            calls.add(node.func.id)
        elif isinstance(node, ast.Import):
            imports.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imports.add(node.module.split(".")[0])
    return calls, imports


def test_no_pickle_marshal_eval_or_exec_in_the_package() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 10
    for f in files:
        calls, imports = _calls_and_imports(f)
        assert not calls & {"eval", "exec", "compile", "__import__"}, f
        assert not imports & {"pickle", "marshal", "shelve", "dill", "cloudpickle"}, f
        source = f.read_text(encoding="utf-8")
        for m in re.finditer(r"np\.load\(([^)]*)\)", source):
            assert "allow_pickle=False" in m.group(1), f"{f}: {m.group()}"


def test_readme_opens_with_the_two_commands() -> None:
    block = re.search(r"```\n(.*?)```", README, re.S)
    assert block is not None and README.index(block.group()) < README.index("##")
    assert block.group(1).strip().splitlines() == [
        "pip install -e . && provenance demo",
        "pip install -e '.[test]' && pytest",
    ]


def test_docs_document_every_match_column_and_no_other() -> None:
    section = OUTPUTS[OUTPUTS.index("`OUT_DIR/matches.parquet`"):OUTPUTS.index("`OUT_DIR/summary.json`")]
    documented = set()
    for cell in re.findall(r"^\| ([^|]+) \|", section, re.M):
        documented.update(re.findall(r"`([a-z_]+)`", cell))
    assert documented == set(MATCH_SCHEMA)


def test_docs_document_every_summary_field(tmp_path: Path) -> None:
    index = provenance.build_index([ROOT / "fixtures" / "posts" / "airline_tweets.csv"], tmp_path / "idx",
                                   id_field="tweet_id")
    summary = provenance.scan_texts(index, ["nothing to see here, just a few words of text"]).summary
    section = OUTPUTS[OUTPUTS.index("`OUT_DIR/summary.json`"):OUTPUTS.index("### Evidence and")]
    documented = set(re.findall(r"`([a-z_]+)`", section))
    assert set(summary) <= documented, set(summary) - documented


def test_readme_headline_is_the_one_in_results() -> None:
    """README's benchmark headline is copied from benchmarks/RESULTS.md (python -m benchmarks.run --readme)."""
    from benchmarks.run import HEADLINE_END, HEADLINE_START

    def block(path: Path) -> str:
        text = path.read_text(encoding="utf-8")
        return text[text.index(HEADLINE_START) : text.index(HEADLINE_END)]

    root = Path(__file__).resolve().parents[1]
    assert block(root / "README.md") == block(root / "benchmarks" / "RESULTS.md")
    assert "| scan speed / naive |" in block(root / "README.md")


def test_readme_is_one_page_and_every_link_resolves() -> None:
    assert len(README.splitlines()) <= 260
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if target.startswith(("http://", "https://")):
                continue
            assert (page.parent / target).exists(), f"{page.name}: {target}"
        for anchor_page, anchor in re.findall(r"\]\(([^)#\s]*)#([\w-]+)\)", text):
            linked = page.parent / anchor_page if anchor_page else page
            slugs = {re.sub(r"[^\w\- ]", "", h.lstrip("#").strip().lower()).replace(" ", "-")
                     for h in re.findall(r"^#+ .*$", linked.read_text(encoding="utf-8"), re.M)}
            assert anchor in slugs, f"{page.name}: {anchor_page}#{anchor}"
