"""The evidence bundle and ``provenance verify``: an untouched scan verifies; an altered corpus file,
matches file, summary or index is found and named."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from provenance import api
from provenance.errors import IndexFormatError, ProvenanceError
from provenance.results.evidence import verify
from provenance.params import IndexParams

from conftest import PLANTED, POSTS_CSV, run_cli_here


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_corpus(d: Path) -> Path:
    """The planted corpus as three local JSONL files."""
    corpus = d / "corpus"
    corpus.mkdir()
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        lines = f.readlines()
    for k in range(3):
        (corpus / f"part-{k}.jsonl").write_text("".join(lines[k::3]), encoding="utf-8")
    return corpus


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, cli_index):
    """The planted corpus scanned through the CLI."""
    d = tmp_path_factory.mktemp("evidence")
    corpus = make_corpus(d)
    out = d / "out"
    proc = run_cli_here("scan", cli_index.path, corpus, "-o", out, "-q")
    assert proc.returncode == 0, proc.stderr
    return corpus, out, cli_index.path


@pytest.fixture()
def fresh(tmp_path: Path, api_index):
    """A scan of a corpus of its own, to alter."""
    index, index_dir = api_index
    corpus = make_corpus(tmp_path)
    out = tmp_path / "out"
    api.scan(index, [corpus], out)
    assert verify(out, inputs=[corpus]).ok
    return corpus, out, index_dir


def test_evidence_pins_inputs_index_and_results(scanned) -> None:
    corpus, out, index_dir = scanned
    ev = json.loads((out / "evidence.json").read_text())
    assert {Path(u["path"]).name: u["sha256"] for u in ev["inputs"]} == {
        p.name: sha256(p) for p in sorted(corpus.glob("*.jsonl"))}
    assert ev["index"]["manifest_sha256"] == sha256(index_dir / "manifest.json")
    assert ev["index"]["manifest"]["counts"]["posts"] == 3000
    assert ev["results"] == {n: sha256(out / n) for n in ("matches.parquet", "summary.json", "run.json")}
    summary = json.loads((out / "summary.json").read_text())
    assert ev["params"] == summary["params"]["scan"] and ev["tool_version"] == summary["tool_version"]


def test_doc_text_is_the_matched_span(scanned) -> None:
    corpus, out, _ = scanned
    matches = pl.read_parquet(out / "matches.parquet")
    docs = {}
    for p in corpus.glob("*.jsonl"):
        for line in p.read_bytes().split(b"\n"):
            if line.strip():
                r = json.loads(line)
                docs[r["id"]] = r["text"]
    assert matches.height > 250
    for r in matches.iter_rows(named=True):
        assert r["doc_text"] == docs[r["doc_id"]][r["doc_start"] : r["doc_end"]]


def test_an_untouched_scan_verifies(scanned) -> None:
    corpus, out, _ = scanned
    result = verify(out, inputs=[corpus])
    assert result.ok, result.problems
    assert result.matches > 250 and result.inputs == 3 and result.documents > 200 and result.seal == "unkeyed"
    proc = run_cli_here("verify", out, corpus)
    assert proc.returncode == 0, proc.stderr
    assert "verified" in proc.stdout and f"{result.matches:,} matches" in proc.stdout


def test_an_altered_corpus_file_is_named(fresh) -> None:
    corpus, out, _ = fresh
    f = corpus / "part-1.jsonl"
    f.write_bytes(f.read_bytes().replace(b"the ", b"thE ", 1))
    result = verify(out, inputs=[corpus])
    assert [p.what for p in result.problems] == ["input"]
    assert f"{f}: content differs from the scan" in result.problems[0].message
    proc = run_cli_here("verify", out, "--inputs", corpus)
    assert proc.returncode == 1 and str(f) in proc.stdout


def test_an_altered_match_is_named(fresh) -> None:
    corpus, out, _ = fresh
    m = pl.read_parquet(out / "matches.parquet")
    changed = m.with_columns(pl.when(pl.int_range(pl.len()) == 7).then(pl.col("containment") - 0.125)
                             .otherwise(pl.col("containment")).alias("containment"))
    assert not changed.equals(m)
    changed.write_parquet(out / "matches.parquet")
    result = verify(out, inputs=[corpus])
    whats = [p.what for p in result.problems]
    assert whats[0] == "results" and "matches.parquet: changed since the scan" in result.problems[0].message
    row = m.row(7, named=True)
    assert f"{row['source']}:{row['row']}: the match of post {row['post_id']!r}" in "\n".join(
        p.message for p in result.problems)


def test_a_removed_match_is_named(fresh) -> None:
    corpus, out, _ = fresh
    m = pl.read_parquet(out / "matches.parquet")
    m.filter(pl.int_range(pl.len()) != 3).write_parquet(out / "matches.parquet")
    messages = "\n".join(p.message for p in verify(out, inputs=[corpus]).problems)
    row = m.row(3, named=True)
    if m.filter((pl.col("source") == row["source"]) & (pl.col("row") == row["row"])).height > 1:
        assert f"a new scan matches post {row['post_id']!r}" in messages
    assert "matches.parquet: changed since the scan" in messages


def test_another_or_damaged_index_is_named(fresh, tmp_path: Path) -> None:
    corpus, out, index_dir = fresh
    other = api.build_index([POSTS_CSV], tmp_path / "other", id_field="tweet_id",
                            params=IndexParams(max_key_posts=49))
    result = verify(out, other.path, inputs=[corpus])
    assert [p.what for p in result.problems] == ["index"] and "not the index of the scan" in result.problems[0].message
    damaged = tmp_path / "damaged"
    shutil.copytree(index_dir, damaged)
    f = damaged / "key_lo.npy"
    data = bytearray(f.read_bytes())
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="key_lo.npy: checksum differs"):
        verify(out, damaged, inputs=[corpus])
    proc = run_cli_here("verify", out, "--index", damaged, corpus)
    assert proc.returncode == 2 and "key_lo.npy: checksum differs" in proc.stderr


def test_no_evidence_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ProvenanceError, match="no evidence.json"):
        verify(tmp_path)
    proc = run_cli_here("verify", tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ resealed results, keyed seals


def reseal(out: Path, edit=None) -> dict:
    """Seal evidence.json again over the result files as they are now (what anyone can do: the unkeyed
    seal is a sha256), after ``edit`` of its content; returns the content."""
    from provenance.durable import sealed_json

    ev = json.loads((out / "evidence.json").read_text())
    ev["results"] = {n: sha256(out / n) for n in ("matches.parquet", "summary.json", "run.json")}
    if edit is not None:
        edit(ev)
    (out / "evidence.json").write_bytes(sealed_json(ev))
    return ev


def _drop_one_document(out: Path) -> None:
    m = pl.read_parquet(out / "matches.parquet")
    first = m.row(0, named=True)
    m.filter(~((pl.col("source") == first["source"]) & (pl.col("row") == first["row"]))).write_parquet(
        out / "matches.parquet")


def _summary_says_3_posts(out: Path) -> None:
    s = json.loads((out / "summary.json").read_text())
    s["posts_matched"] = 3
    (out / "summary.json").write_text(json.dumps(s, indent=2) + "\n")


def _every_row_tripled(out: Path) -> None:
    m = pl.read_parquet(out / "matches.parquet")
    pl.concat([m, m, m]).sort(["source", "row", "doc_start", "post_id"]).write_parquet(out / "matches.parquet")


def _a_row_from_elsewhere(out: Path) -> None:
    m = pl.read_parquet(out / "matches.parquet")
    pl.concat([m, m.head(1).with_columns(source=pl.lit("/elsewhere/x.jsonl"))]).write_parquet(out / "matches.parquet")


@pytest.mark.parametrize("alter, said", [
    (_drop_one_document, "summary.json: matches is"),
    (_summary_says_3_posts, "summary.json: posts_matched is 3, matches.parquet gives"),
    (_every_row_tripled, "rows repeat another row"),
    (_a_row_from_elsewhere, "rows from '/elsewhere/x.jsonl', which is not among the inputs"),
])
def test_resealed_results_do_not_verify(fresh, alter, said: str) -> None:
    """Results altered and the evidence sealed again over them (an unkeyed seal is only a sha256): the
    summary is checked against the rows, the rows for repeats and for sources the scan did not read."""
    corpus, out, _ = fresh
    alter(out)
    reseal(out)
    result = verify(out, inputs=[corpus])
    assert not result.ok
    assert any(said in p.message for p in result.problems), result.problems
    proc = run_cli_here("verify", out, "--inputs", corpus)
    assert proc.returncode == 1 and said in proc.stdout


def test_the_summary_agrees_with_the_rows_of_a_sampled_sharded_scan(tmp_path: Path) -> None:
    """The recomputation is the scan's: a sampled scan against a sharded index verifies, generic matches
    and per-input figures included."""
    index = api.build_index([POSTS_CSV], tmp_path / "sharded", id_field="tweet_id", shards=3)
    corpus = make_corpus(tmp_path)
    result = api.scan(index, [corpus], tmp_path / "out", params=api.ScanParams(sample=0.7, sample_seed=3, min_evidence_bits=80))
    assert result.summary["generic"]["matches"] > 0 and result.summary["docs_scanned"] < result.summary["docs_total"]
    check = verify(tmp_path / "out", inputs=[corpus])
    assert check.ok, check.problems


@pytest.fixture()
def seal_key(tmp_path: Path) -> Path:
    f = tmp_path / "SEAL"
    f.write_bytes(bytes(range(32)))
    return f


def test_a_keyed_seal_only_the_key_holder_can_make(fresh, seal_key: Path, tmp_path: Path) -> None:
    from provenance.keys import Key

    corpus, out, index_dir = fresh
    key, other = Key.from_file(seal_key), Key(b"another key of 16+ bytes")
    sealed = tmp_path / "sealed"
    api.scan(index_dir, [corpus], sealed, seal_key=key)
    ev = json.loads((sealed / "evidence.json").read_text())
    assert ev["keyed_seal"]["key_fingerprint"] == key.fingerprint and key.secret.hex() not in json.dumps(ev)
    ok = verify(sealed, inputs=[corpus], seal_key=key)
    assert ok.ok and ok.seal == "keyed", ok.problems
    assert verify(sealed, inputs=[corpus]).seal == "keyed, not checked (no key given)"
    wrong = verify(sealed, inputs=[corpus], seal_key=other)
    assert [p.what for p in wrong.problems] == ["seal"] and "sealed with another key" in wrong.problems[0].message
    proc = run_cli_here("verify", sealed, corpus, "--seal-key-file", seal_key)
    assert proc.returncode == 0 and "(seal: keyed)" in proc.stdout, proc.stdout + proc.stderr
    # whoever alters a result and seals again without the key: the keyed seal no longer matches
    _summary_says_3_posts(sealed)
    reseal(sealed)
    forged = verify(sealed, inputs=[corpus], seal_key=key)
    assert "its keyed seal does not match its content" in forged.problems[0].message
    # ... and without a keyed seal at all: the key holder is told
    reseal(sealed, lambda e: e.pop("keyed_seal"))
    stripped = verify(sealed, inputs=[corpus], seal_key=key)
    assert "no keyed seal" in stripped.problems[0].message
    # an unkeyed scan's evidence checked with a key: not vouched for
    assert "no keyed seal" in verify(out, inputs=[corpus], seal_key=key).problems[0].message


def test_scan_seals_with_the_seal_key_file(fresh, seal_key: Path, tmp_path: Path) -> None:
    corpus, _, index_dir = fresh
    proc = run_cli_here("scan", index_dir, corpus, "-o", tmp_path / "o", "-q", "--seal-key-file", seal_key)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli_here("verify", tmp_path / "o", "--inputs", corpus, "--seal-key-file", seal_key, "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["seal"] == "keyed", proc.stdout + proc.stderr


# ------------------------------------------------------------------ what verify may read


def _names_input(out: Path, path: str, url: bool = False) -> None:
    """Make the evidence name ``path`` as its first input (and seal it again)."""
    def edit(ev: dict) -> None:
        ev["inputs"][0].update(path=path, resolved=path, url=url)
    reseal(out, edit)


@pytest.mark.parametrize("target", ["/etc/shadow", "outside", "symlink", "../corpus-elsewhere/part-0.jsonl"])
def test_verify_reads_no_local_file_outside_the_inputs_named(fresh, tmp_path: Path, target: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from provenance.results import evidence

    corpus, out, _ = fresh
    secret = tmp_path / "secret.jsonl"
    secret.write_text('{"id": "s", "text": "not yours"}\n')
    if target == "outside":
        target = str(secret)
    elif target == "symlink":  # a link inside the folder named, to a file outside it
        (corpus / "link.jsonl").symlink_to(secret)
        target = str(corpus / "link.jsonl")
    _names_input(out, target)
    read = []
    monkeypatch.setattr(evidence, "file_sha256", lambda unit, *a: read.append(unit) or "0" * 64)
    monkeypatch.chdir(corpus)
    with pytest.raises(ProvenanceError, match="outside what verify may read") as e:
        verify(out, inputs=[corpus])
    assert "\n" not in str(e.value) and read == []
    with pytest.raises(ProvenanceError, match="outside what verify may read"):
        verify(out)  # (the current directory: the corpus folder)
    monkeypatch.undo()
    proc = run_cli_here("verify", out, "--inputs", corpus, cwd=corpus)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "outside what verify may read" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("flagged", [True, False])
def test_verify_requests_no_url_unless_allowed(fresh, tmp_path: Path, flagged: bool) -> None:
    """An evidence file naming a URL (flagged as one or not) is refused before anything is read: the
    server on 127.0.0.1 sees no request. With --allow-remote it is read."""
    import functools
    import http.server
    import threading

    pytest.importorskip("aiohttp", reason="http:// URLs need aiohttp (pip install 'provenance[remote]')")
    corpus, out, _ = fresh
    requests: list[str] = []

    class Recording(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Recording, directory=str(corpus)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/internal-admin?token=x"
        _names_input(out, url, url=flagged)
        with pytest.raises(ProvenanceError, match="names the remote input .*--allow-remote") as e:
            verify(out, inputs=[corpus])
        assert "\n" not in str(e.value)
        proc = run_cli_here("verify", out, corpus)
        assert proc.returncode == 2 and "--allow-remote" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert requests == []
        if flagged:
            allowed = verify(out, inputs=[corpus], allow_remote=True)
            assert requests and not allowed.ok  # (read: the admin page is not the input that was scanned)
    finally:
        server.shutdown()


def test_malformed_evidence_or_matches_is_one_line(fresh) -> None:
    corpus, out, _ = fresh
    m = pl.read_parquet(out / "matches.parquet")
    m.drop("source").write_parquet(out / "matches.parquet")
    reseal(out)
    result = verify(out, inputs=[corpus])
    assert any("not the columns of a scan's matches (source" in p.message for p in result.problems)
    sealed = (out / "evidence.json").read_bytes()
    for edit in (lambda e: e["inputs"][0].update(part="x"), lambda e: e["fields"].pop("text"),
                 lambda e: e.update(inputs={"a": 1}), lambda e: e["params"].update(min_coverage="high")):
        (out / "evidence.json").write_bytes(sealed)
        reseal(out, edit)
        proc = run_cli_here("verify", out, corpus)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
