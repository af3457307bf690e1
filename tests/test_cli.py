"""The command line, run as a subprocess: end to end on the real fixtures, accuracy against the planted
truth, the demo, help texts, one-line errors for bad input, and atomic outputs."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

import provenance
from provenance.index import FORMAT_VERSION
from provenance.params import IndexParams, ScanParams
from provenance.results.outputs import MATCH_COLUMNS_DOC

from conftest import HARD_CSV, PLANTED, POSTS_CSV, TRUTH_CSV, BuiltIndex, run_cli

IDS = {"post_id": pl.String, "doc_id": pl.String, "tweet_id": pl.String}


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def union_length(spans: list[tuple[int, int]]) -> int:
    total, reach = 0, None
    for s, e in sorted(spans):
        if reach is None or s >= reach:
            total += e - s
            reach = e
        elif e > reach:
            total += e - reach
            reach = e
    return total


# ------------------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def corpus_docs() -> list[dict]:
    return read_jsonl_gz(PLANTED)


@pytest.fixture(scope="module")
def scanned(cli_index: BuiltIndex, tmp_path_factory: pytest.TempPathFactory):
    """``provenance scan IDX planted/corpus.jsonl.gz -o OUT --json -q`` → (process, OUT)."""
    out = tmp_path_factory.mktemp("cli-scan") / "OUT"
    proc = run_cli("scan", cli_index.path, PLANTED, "-o", out, "--json", "-q", cwd=out.parent)
    return proc, out


@pytest.fixture(scope="module")
def matches(scanned) -> pl.DataFrame:
    proc, out = scanned
    assert proc.returncode == 0, proc.stderr
    return pl.read_parquet(out / "matches.parquet")


def test_index_build_and_info(cli_index: BuiltIndex) -> None:
    assert cli_index.proc is not None
    assert cli_index.proc.returncode == 0, cli_index.proc.stderr
    assert cli_index.proc.stdout == ""  # -q without --json: nothing on stdout
    proc = run_cli("index", "info", cli_index.path, "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["counts"]["posts"] == 3000
    assert info["counts"]["shingled_posts"] + info["counts"]["short_posts"] + info["counts"]["empty_posts"] == 3000
    assert info["params"] == IndexParams().to_dict()
    assert info["format_version"] == FORMAT_VERSION
    assert info["meta_fields"] == ["name", "tweet_created"]
    assert info["manifest_sha256"] == hashlib.sha256((cli_index.path / "manifest.json").read_bytes()).hexdigest()


def test_scan_json_equals_summary_file(scanned) -> None:
    proc, out = scanned
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # -q: no progress bar, no table
    printed = json.loads(proc.stdout)
    written = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert printed == written
    assert sorted(p.name for p in out.iterdir()) == ["evidence.json", "matches.parquet", "run.json", "summary.json", "units"]


def test_matches_columns_and_spans(matches: pl.DataFrame, corpus_docs: list[dict]) -> None:
    required = ["doc_id", "post_id", "source", "row", "containment", "doc_start", "doc_end", "method"]
    assert set(required) <= set(matches.columns)
    assert set(matches.columns) == set(MATCH_COLUMNS_DOC)
    assert matches.schema["doc_start"] == pl.Int64 and matches.schema["doc_end"] == pl.Int64
    assert matches.schema["row"] == pl.Int64 and matches.schema["containment"] == pl.Float64
    assert matches.height > 250
    assert set(matches["method"]) <= {"containment", "containment_prefix", "aligned", "partial", "exact_short", "jaccard"}
    for r in matches.iter_rows(named=True):
        doc = corpus_docs[r["row"] - 1]
        assert doc["id"] == r["doc_id"], r  # row is the 1-based record number in the source file
        assert r["source"] == str(PLANTED)
        assert 0 <= r["doc_start"] < r["doc_end"] <= len(doc["text"]), r
        assert 0.0 <= r["containment"] <= 1.0, r
    assert matches.select("doc_id", "post_id").is_duplicated().sum() == 0


def test_summary_fields_consistent(scanned, matches: pl.DataFrame, corpus_docs: list[dict],
                                   cli_index: BuiltIndex) -> None:
    s = json.loads(scanned[0].stdout)
    matches = matches.filter(~pl.col("generic"))  # the counts are of the counted matches
    for key in ("posts_indexed", "posts_matched", "docs_scanned", "docs_matched", "corpus_chars", "matched_chars",
                "share_posts_matched", "share_docs_matched", "share_chars_matched", "params", "index",
                "tool_version", "skipped"):
        assert key in s, key
    assert s["posts_indexed"] == 3000
    assert s["docs_scanned"] == len(corpus_docs) == 500
    assert s["corpus_chars"] == sum(len(d["text"]) for d in corpus_docs)
    assert s["posts_matched"] == matches["post_id"].n_unique()
    assert s["docs_matched"] == matches.select("source", "row").unique().height
    assert s["matches"] == matches.height + s["generic"]["matches"]
    spans: dict[int, list[tuple[int, int]]] = {}
    for row, a, b in matches.select("row", "doc_start", "doc_end").iter_rows():
        spans.setdefault(row, []).append((a, b))
    assert s["matched_chars"] == sum(union_length(v) for v in spans.values())
    assert 0 < s["matched_chars"] <= s["corpus_chars"]
    assert s["share_posts_matched"] == pytest.approx(s["posts_matched"] / s["posts_indexed"])
    assert s["share_docs_matched"] == pytest.approx(s["docs_matched"] / s["docs_scanned"])
    assert s["share_chars_matched"] == pytest.approx(s["matched_chars"] / s["corpus_chars"])
    assert s["params"]["index"] == IndexParams().to_dict()
    assert s["params"]["scan"] == ScanParams().to_dict()
    manifest = (cli_index.path / "manifest.json").read_bytes()
    assert s["index"]["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert s["tool_version"] == provenance.__version__
    assert "seconds" not in s and s["skipped"] == {"records": 0, "files": 0, "by_kind": {}, "first": {}}


# ------------------------------------------------------------------------------------------ accuracy


@pytest.fixture(scope="module")
def truth() -> pl.DataFrame:
    return pl.read_csv(TRUTH_CSV, schema_overrides=IDS)


# Every edit type of truth.csv except the two that remove words: substitute (one or two of often ten
# words replaced) and truncate (cut to 50-90 % of the characters), tested with their own floor below.
EDITS = ["verbatim", "case", "rt_prefix", "url_noise", "mentions", "html_entities", "emoji", "linebreaks",
         "delete", "embed", "timeline"]


def _recall(matches: pl.DataFrame, truth: pl.DataFrame) -> tuple[int, int]:
    hit = truth.join(matches.select("post_id", "doc_id").unique(), on=["post_id", "doc_id"], how="semi")
    return hit.height, truth.height


def test_recall_over_all_planted_pairs(matches: pl.DataFrame, truth: pl.DataFrame) -> None:
    found, planted = _recall(matches, truth)
    assert planted == 300
    assert found / planted >= 0.97, f"recall {found}/{planted}"


@pytest.mark.parametrize("edit", EDITS)
def test_recall_per_edit_type(edit: str, matches: pl.DataFrame, truth: pl.DataFrame) -> None:
    found, planted = _recall(matches, truth.filter(pl.col("edit") == edit))
    assert planted >= 20
    assert found / planted >= 0.95, f"{edit}: recall {found}/{planted}"


def test_substituted_copies_mostly_found(matches: pl.DataFrame, truth: pl.DataFrame) -> None:
    # Misses are short posts with two of about ten words replaced: below min_coverage/min_containment.
    found, planted = _recall(matches, truth.filter(pl.col("edit") == "substitute"))
    assert found / planted >= 0.85, f"substitute: recall {found}/{planted}"


def test_truncated_copies_mostly_found(matches: pl.DataFrame, truth: pl.DataFrame) -> None:
    found, planted = _recall(matches, truth.filter(pl.col("edit") == "truncate"))
    # Misses are copies cut to fewer than min_span_tokens words.
    assert found / planted >= 0.8, f"truncate: recall {found}/{planted}"
    assert set(truth["edit"]) == {*EDITS, "substitute", "truncate"}


def test_no_false_matches(matches: pl.DataFrame, truth: pl.DataFrame) -> None:
    false = matches.join(truth, on=["post_id", "doc_id"], how="anti")
    assert false.height == 0, false.select("doc_id", "post_id", "method", "doc_start", "doc_end")
    hard = pl.read_csv(HARD_CSV, schema_overrides=IDS).rename({"tweet_id": "post_id"})
    assert hard.height == 20
    assert matches.join(hard, on=["post_id", "doc_id"], how="semi").height == 0
    # No post at all is reported in a hard negative's document unless it was planted there.
    for doc_id, start, end in hard.select("doc_id", "start", "end").iter_rows():
        inside = matches.filter((pl.col("doc_id") == doc_id) & (pl.col("doc_start") < end) & (pl.col("doc_end") > start))
        assert inside.height == 0, inside


def test_spans_inside_planted_spans(matches: pl.DataFrame, truth: pl.DataFrame) -> None:
    joined = matches.join(truth, on=["post_id", "doc_id"], how="inner")
    assert joined.height >= 290
    for r in joined.iter_rows(named=True):
        assert r["start"] <= r["doc_start"] < r["doc_end"] <= r["end"], r
        if r["edit"] in ("verbatim", "case"):
            assert (r["doc_end"] - r["doc_start"]) >= 0.6 * (r["end"] - r["start"]), r


def test_progress_bars_on_a_terminal(cli_index: BuiltIndex, tmp_path: Path) -> None:
    """On a terminal (FORCE_COLOR: rich takes stderr for one) the build and the scan draw their bars and finish."""
    env = {"FORCE_COLOR": "1"}
    proc = run_cli("index", "build", POSTS_CSV, "-o", tmp_path / "idx", "--id-field", "tweet_id", env=env, cwd=tmp_path)
    assert proc.returncode == 0 and "indexing" in proc.stderr, proc.stderr
    proc = run_cli("scan", cli_index.path, PLANTED, "-o", tmp_path / "out", env=env, cwd=tmp_path)
    assert proc.returncode == 0 and "scanning" in proc.stderr, proc.stderr


# ------------------------------------------------------------------------------------------ demo


def test_demo(tmp_path: Path, truth: pl.DataFrame) -> None:
    proc = run_cli("demo", "-o", tmp_path / "demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "posts indexed" in proc.stderr
    assert "recall" in proc.stderr
    assert "Traceback" not in proc.stderr
    # The recall table lists every edit type and an "all" row whose count agrees with the matches written.
    m = pl.read_parquet(tmp_path / "demo" / "scan" / "matches.parquet").filter(~pl.col("generic"))  # counted
    found = truth.join(m.select("post_id", "doc_id").unique(), on=["post_id", "doc_id"], how="semi").height
    for edit in truth["edit"].unique():
        assert re.search(rf"\b{edit}\b", proc.stderr), edit
    all_rows = [line for line in proc.stderr.splitlines() if re.search(r"\ball\b", line) and "300" in line]
    assert len(all_rows) == 1 and re.search(rf"\b{found}\b", all_rows[0]), all_rows
    assert (tmp_path / "demo" / "index" / "manifest.json").is_file()


def test_demo_json(tmp_path: Path) -> None:
    proc = run_cli("demo", "-o", tmp_path / "d", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # tables and progress go to stderr, only JSON to stdout
    assert summary["posts_indexed"] == 3000 and summary["docs_scanned"] == 500
    written = json.loads((tmp_path / "d" / "scan" / "summary.json").read_text(encoding="utf-8"))
    assert summary == written
    assert "posts indexed" in proc.stderr


# ------------------------------------------------------------------------------------------ help


@pytest.mark.parametrize("command", [
    [],
    ["index", "build"], ["index", "info"], ["scan"], ["demo"],
], ids=["provenance", "index-build", "index-info", "scan", "demo"])
def test_help(command: list[str]) -> None:
    proc = run_cli(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage:")
    assert "Example" in proc.stdout


# ------------------------------------------------------------------------------------------ bad input


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


GOOD_LINE = '{"id": "a", "text": "The committee met on Tuesday to discuss the annual budget."}\n'


def _case_missing_posts(t: Path, idx: Path):
    f = t / "nope.csv"
    return ["index", "build", f, "-o", t / "X", "-q"], [str(f)]


def _case_unknown_extension(t: Path, idx: Path):
    f = _write(t / "corpus.xyz", "hello\n")
    return ["scan", idx, f, "-o", t / "OUT", "-q"], [str(f), ".xyz"]


def _case_broken_json(t: Path, idx: Path):
    f = _write(t / "broken.jsonl", GOOD_LINE + GOOD_LINE.replace('"a"', '"b"') + '{"id": "c", "text": \n' + GOOD_LINE)
    return ["scan", idx, f, "-o", t / "OUT", "-q"], [f"{f}:3"]


def _case_missing_text_field(t: Path, idx: Path):
    f = _write(t / "docs.jsonl", GOOD_LINE)
    return ["scan", idx, f, "-o", t / "OUT", "--text-field", "body", "-q"], [f"{f}:1", "body"]


def _case_not_utf8(t: Path, idx: Path):
    f = _write(t / "latin1.jsonl", GOOD_LINE.encode() + '{"id": "b", "text": "caf\xe9 au lait"}\n'.encode("latin-1"))
    return ["scan", idx, f, "-o", t / "OUT", "-q"], [f"{f}:2", "UTF-8"]


def _case_empty_corpus(t: Path, idx: Path):
    f = _write(t / "empty.jsonl", b"")
    return ["scan", idx, f, "-o", t / "OUT", "-q"], [str(f)]


def _case_index_empty_dir(t: Path, idx: Path):
    d = t / "emptydir"
    d.mkdir()
    return ["scan", d, PLANTED, "-o", t / "OUT", "-q"], [str(d)]


def _case_index_random_files(t: Path, idx: Path):
    d = t / "randdir"
    _write(d / "keys.npy", bytes(range(256)))
    _write(d / "notes.txt", "not an index\n")
    return ["scan", d, PLANTED, "-o", t / "OUT", "-q"], [str(d)]


def _case_format_version(t: Path, idx: Path):
    d = t / "v999"
    shutil.copytree(idx, d)
    m = json.loads((d / "manifest.json").read_text())
    m["format_version"] = 999
    (d / "manifest.json").write_text(json.dumps(m, indent=2))
    return ["scan", d, PLANTED, "-o", t / "OUT", "-q"], [str(d), "999"]


def _case_checksum(t: Path, idx: Path):
    d = t / "altered"
    shutil.copytree(idx, d)
    keys = bytearray((d / "key_lo.npy").read_bytes())
    keys[-3] ^= 0x5A
    (d / "key_lo.npy").write_bytes(bytes(keys))
    return ["index", "info", d], [str(d / "key_lo.npy"), "checksum"]


def _case_duplicate_ids(t: Path, idx: Path):
    f = _write(t / "dup.csv", "id,text\r\n7,first post about a delayed flight home\r\n"
                              "8,second post about lost bags at the gate\r\n7,third post reuses an id\r\n")
    return ["index", "build", f, "-o", t / "X", "-q"], [f"{f}:3", f"{f}:1", "duplicate"]


def _case_existing_index(t: Path, idx: Path):
    d = t / "existing"
    shutil.copytree(idx, d)
    return ["index", "build", POSTS_CSV, "-o", d, "--id-field", "tweet_id", "-q"], [str(d), "--append", "--force"]


def _case_bad_min_containment(t: Path, idx: Path):
    return ["scan", idx, PLANTED, "-o", t / "OUT", "--min-containment", "1.5", "-q"], ["1.5"]


BAD_INPUT = {
    "missing-posts": _case_missing_posts,
    "unknown-extension": _case_unknown_extension,
    "broken-json-line-3": _case_broken_json,
    "missing-text-field": _case_missing_text_field,
    "not-utf8": _case_not_utf8,
    "empty-corpus": _case_empty_corpus,
    "index-empty-dir": _case_index_empty_dir,
    "index-random-files": _case_index_random_files,
    "index-format-999": _case_format_version,
    "index-checksum": _case_checksum,
    "duplicate-post-ids": _case_duplicate_ids,
    "existing-index": _case_existing_index,
    "min-containment-1.5": _case_bad_min_containment,
}


class BadRun:
    def __init__(self, proc: subprocess.CompletedProcess[str], needles: list[str], tmp: Path) -> None:
        self.proc, self.needles, self.tmp = proc, needles, tmp


@pytest.fixture(scope="module")
def bad_runs(cli_index: BuiltIndex, tmp_path_factory: pytest.TempPathFactory):
    """Each bad-input case is run once (in its own directory) and shared by the tests below."""
    cache: dict[str, BadRun] = {}

    def get(name: str) -> BadRun:
        if name not in cache:
            t = tmp_path_factory.mktemp(name)
            args, needles = BAD_INPUT[name](t, cli_index.path)
            cache[name] = BadRun(run_cli(*args, cwd=t), needles, t)
        return cache[name]

    return get


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_error_line_with_exit_2(case: str, bad_runs) -> None:
    run = bad_runs(case)
    err = run.proc.stderr.strip()
    assert "Traceback" not in err, err
    assert run.proc.returncode == 2, err
    assert run.proc.stdout == ""
    assert "\n" not in err, err
    assert err.startswith("error:"), err
    for needle in run.needles:
        assert needle in err, (needle, err)


def test_existing_index_left_untouched(bad_runs, cli_index: BuiltIndex) -> None:
    run = bad_runs("existing-index")
    assert run.proc.returncode != 0
    d = run.tmp / "existing"
    assert (d / "manifest.json").read_bytes() == (cli_index.path / "manifest.json").read_bytes()
    assert not [p for p in run.tmp.iterdir() if p.name.endswith(".tmp") or ".old-" in p.name]


@pytest.mark.parametrize("args, codes", [
    (["scan", "IDX", "corpus.jsonl", "-o", "OUT", "--min-containment", "abc"], (2,)),
    (["scan", "IDX"], (2,)),
    (["index", "build", "posts.csv"], (2,)),
    ([], (0, 2)),  # no arguments: the help text
], ids=["not-a-float", "missing-argument", "missing-option", "no-arguments"])
def test_usage_errors_exit_2_without_traceback(args: list[str], codes: tuple[int, ...], tmp_path: Path) -> None:
    proc = run_cli(*args, cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in codes
    assert "Usage" in proc.stderr + proc.stdout


def test_error_keeps_brackets_in_file_names(tmp_path: Path) -> None:
    f = tmp_path / "posts[old].csv"
    proc = run_cli("index", "build", f, "-o", tmp_path / "X", "-q", cwd=tmp_path)
    assert proc.returncode != 0
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert error_lines and str(f) in error_lines[0], proc.stderr


def test_error_without_quiet_is_one_line(tmp_path: Path, cli_index: BuiltIndex) -> None:
    f = _write(tmp_path / "broken.jsonl", GOOD_LINE + "{oops\n")
    proc = run_cli("scan", cli_index.path, f, "-o", tmp_path / "OUT", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == proc.stderr.strip().splitlines()[0]
    assert proc.stderr.startswith(f"error: {f}:2")


def test_internal_error_is_one_line_exit_3(tmp_path: Path) -> None:
    fx = tmp_path / "fixtures"
    _write(fx / "posts" / "airline_tweets.csv", "tweet_id,name,tweet_created,text\r\n"
                                                "1,ann,2015-02-24,my flight was delayed for three hours again today\r\n")
    _write(fx / "planted" / "corpus.jsonl.gz", gzip.compress(
        (json.dumps({"id": "d1", "text": "News: my flight was delayed for three hours again today, she said."}) + "\n").encode()))
    _write(fx / "planted" / "truth.csv", "nothing,useful\n1,2\n")
    _write(fx / "planted" / "hard_negatives.csv", "nothing,useful\n1,2\n")
    proc = run_cli("demo", "-o", tmp_path / "demo", env={"PROVENANCE_FIXTURES": str(fx)}, cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 3
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: internal error:") and "PROVENANCE_DEBUG" in last


# ------------------------------------------------------------------------------------------ atomicity


def _no_tmp_left(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_failed_scan_writes_nothing(tmp_path: Path, cli_index: BuiltIndex) -> None:
    good = tmp_path / "a.jsonl"
    docs = read_jsonl_gz(PLANTED)[:20]
    _write(good, "".join(json.dumps(d) + "\n" for d in docs))
    bad = _write(tmp_path / "b.jsonl", GOOD_LINE + GOOD_LINE + "{broken\n")
    out = tmp_path / "OUT"
    proc = run_cli("scan", cli_index.path, good, bad, "-o", out, "-q", cwd=tmp_path)
    assert proc.returncode != 0
    assert f"{bad}:3" in proc.stderr
    assert not (out / "matches.parquet").exists()
    assert not (out / "summary.json").exists()
    assert _no_tmp_left(tmp_path) == []


def test_failed_scan_keeps_previous_results(tmp_path: Path, cli_index: BuiltIndex) -> None:
    good = _write(tmp_path / "a.jsonl", "".join(json.dumps(d) + "\n" for d in read_jsonl_gz(PLANTED)[:30]))
    out = tmp_path / "OUT"
    first = run_cli("scan", cli_index.path, good, "-o", out, "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert set(before) == {"matches.parquet", "summary.json", "run.json", "evidence.json"}
    assert pl.read_parquet(out / "matches.parquet").height > 0
    bad = _write(tmp_path / "b.jsonl", GOOD_LINE + "[1, 2]\n")
    proc = run_cli("scan", cli_index.path, good, bad, "-o", out, "-q", cwd=tmp_path)
    assert proc.returncode != 0
    # the results stay; only the checkpoint units of the failed run (see --resume) may differ
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert _no_tmp_left(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("unable to find column 'x'\n\nResolved plan until failure:\n  ---> FAILED HERE"),
                                   ValueError("one line")])
def test_an_internal_error_of_several_lines_is_still_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                                              error: Exception) -> None:
    """A library's error message may hold line breaks (polars adds its query plan): the one line keeps its
    first line, and says there was more."""
    import provenance.cli as cli

    def boom() -> None:
        raise error

    import signal

    monkeypatch.delenv("PROVENANCE_DEBUG", raising=False)
    monkeypatch.setattr(cli, "app", boom)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(SystemExit) as stop:
            cli.main()
    finally:  # (main installs its own handlers: this process is the test worker's)
        for s, h in handlers.items():
            signal.signal(s, h)
    assert stop.value.code == 3
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: internal error:") and "PROVENANCE_DEBUG" in lines[0]
    assert str(error).splitlines()[0] in lines[0] and ("…" in lines[0]) == ("\n" in str(error))
