"""The two-sided report (``provenance report``) and the per-input totals of summary.json: every
number agrees with summary.json and matches.parquet, and the per-file figures with scans of each
file alone."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import polars as pl
import pytest

from provenance import api
from provenance.errors import ProvenanceError
from provenance.results.report_markdown import markdown_report
from provenance.results.tables import exposure, licensed_documents, month_of

from provenance.results.headline import share_text
from conftest import PLANTED, run_cli, run_cli_here

NO_INPUTS = lambda s: {k: v for k, v in s.items() if k != "inputs"}  # noqa: E731


@pytest.fixture(scope="module")
def two_files(tmp_path_factory: pytest.TempPathFactory, cli_index):
    """The planted corpus as two files, scanned with the index that keeps author and date."""
    index_dir = cli_index.path
    index = api.open_index(index_dir)
    d = tmp_path_factory.mktemp("report")
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        lines = f.readlines()
    a, b = d / "a.jsonl", d / "b.jsonl"
    a.write_text("".join(lines[:200]), encoding="utf-8")
    b.write_text("".join(lines[200:]), encoding="utf-8")
    both = api.scan(index, [a, b], d / "out")
    return index_dir, d / "out", both, [api.scan(index, [f]) for f in (a, b)]


def test_per_input_totals_add_up_and_equal_single_file_scans(two_files) -> None:
    _, _, both, alone = two_files
    inputs = both.summary["inputs"]
    for key in ("docs_scanned", "docs_matched", "corpus_chars", "matched_chars"):
        assert sum(i[key] for i in inputs) == both.summary[key]
    for entry, single in zip(inputs, alone):
        for key in ("docs_scanned", "docs_matched", "corpus_chars", "matched_chars", "posts_matched",
                    "share_docs_matched", "share_chars_matched"):
            assert entry[key] == single.summary[key], key
    assert inputs[0]["docs_matched"] > 50 and inputs[1]["docs_matched"] > 50


def test_report_numbers_are_the_scan_numbers(two_files) -> None:
    index_dir, out, both, _ = two_files
    s, m = both.summary, both.matches
    text = markdown_report(out)
    assert f"| posts found in the corpus | {s['posts_matched']:,} of {s['posts_indexed']:,} | {share_text(s['share_posts_matched'])} |" in text
    assert f"| characters that are posts | {s['matched_chars']:,} of {s['corpus_chars']:,} |" in text
    # by author: found posts add up to the posts found; indexed ones to the index
    section = text[text.index("**By author**"):text.index("**By month")]
    rows = [r.split("|")[1:-1] for r in section.splitlines() if re.match(r"\| [^-|]", r) and "indexed" not in r]
    assert rows and all(int(r[2].replace(",", "")) <= int(r[1].replace(",", "")) for r in rows)
    full = markdown_report(out, top=10_000)
    section = full[full.index("**By author**"):full.index("**By month")]
    found = [int(r.split("|")[3].replace(",", "")) for r in section.splitlines() if re.match(r"\| [^-|]", r)
             and "indexed" not in r]
    assert sum(found) == s["posts_matched"]
    month = full[full.index("**By month"):full.index("**Exposure")]
    assert f"| 2015-02 | 3,000 | {s['posts_matched']:,} |" in month
    # corpus side: per-document licensed characters add up to the summary's
    docs = licensed_documents(m.filter(~pl.col("generic")))  # the counted matches
    assert docs["licensed_chars"].sum() == s["matched_chars"] and docs.height == s["docs_matched"]
    assert docs["licensed_share"].max() <= 1.0


def test_exposure_counts_documents_and_sources(two_files) -> None:
    _, _, both, _ = two_files
    m = both.matches.filter(~pl.col("generic"))  # the counted matches
    exp = exposure(m)
    assert exp.height == m["post_id"].n_unique() == both.summary["posts_matched"]
    for r in exp.head(25).iter_rows(named=True):
        mine = m.filter(pl.col("post_id") == r["post_id"])
        assert r["documents"] == mine.select("source", "row").unique().height
        assert r["sources"] == mine["source"].n_unique() and r["matches"] == mine.height
    assert exp["documents"].to_list() == sorted(exp["documents"].to_list(), reverse=True)


def test_month_of_reads_the_usual_date_texts() -> None:
    dates = pl.Series(["2015-02-24 11:35:52 -0800", "Wed Oct 10 20:19:24 +0000 2018", "2019-12-01", "soon", None])
    assert pl.select(month_of(pl.lit(dates))).to_series().to_list() == ["2015-02", "2018-10", "2019-12", None, None]


def test_report_through_the_cli(two_files, tmp_path: Path) -> None:
    _, out, both, _ = two_files
    target = tmp_path / "report.md"
    proc = run_cli("report", out, "-o", target, "--top", "3")
    assert proc.returncode == 0, proc.stderr
    text = target.read_text(encoding="utf-8")
    assert text == markdown_report(out, top=3)
    assert "## Post side" in text and "## Corpus side" in text
    for args, said in [(["--format", "pdf"], "md or html"), (["--top", "0"], "--top")]:
        proc = run_cli("report", out, *args)
        assert proc.returncode == 2 and said in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("report", tmp_path)
    assert proc.returncode == 2 and "not the output directory of a finished scan" in proc.stderr


def test_report_format_follows_the_extension_of_output(two_files, tmp_path: Path) -> None:
    _, out, _, _ = two_files
    for name, kind in [("r.html", "html"), ("R.HTM", "html"), ("r.md", "md"), ("r.markdown", "md")]:
        target = tmp_path / name
        proc = run_cli_here("report", out, "-o", target, "--top", "3")
        assert proc.returncode == 0, proc.stderr
        text = target.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") == (kind == "html"), name
        assert text.startswith("# provenance report") == (kind == "md"), name
    # --format overrides the extension
    target = tmp_path / "forced.html"
    assert run_cli_here("report", out, "-o", target, "--format", "md", "--top", "3").returncode == 0
    assert target.read_text(encoding="utf-8").startswith("# provenance report")
    target = tmp_path / "page.txt"
    assert run_cli_here("report", out, "-o", target, "--format", "html", "--top", "3").returncode == 0
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    # an extension with no format, and no --format: one line naming the file and the choices, nothing written
    for name in ("report.txt", "report"):
        target = tmp_path / name
        proc = run_cli_here("report", out, "-o", target)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert str(target) in proc.stderr and ".html" in proc.stderr and "--format" in proc.stderr
        assert not target.exists()
    # no -o: Markdown on stdout unless --format html
    assert run_cli_here("report", out, "--top", "3").stdout.startswith("# provenance report")
    assert run_cli_here("report", out, "--top", "3", "--format", "html").stdout.startswith("<!DOCTYPE html>")


def test_exposure_is_by_documents_then_post_id_in_natural_order() -> None:
    from provenance.results.tables import natural_key

    assert sorted(["p10", "p2", "p1", "q", "p02", "10", "9"], key=natural_key) == ["9", "10", "p1", "p02", "p2", "p10", "q"]
    docs = {"p10": 1, "p2": 1, "p1": 1, "p3": 2, "x100": 3, "x20": 3}
    rows = [{"post_id": p, "source": f"f{k % 2}", "row": k, "containment": 1.0}
            for p, n in docs.items() for k in range(n)]
    exp = exposure(pl.DataFrame(rows))
    assert exp["post_id"].to_list() == ["x20", "x100", "p3", "p1", "p2", "p10"]
    assert exp["documents"].to_list() == [3, 3, 2, 1, 1, 1]


def test_both_reports_list_exposure_in_that_order(two_files) -> None:
    from provenance.results.tables import natural_key
    from provenance.results.report_html import html_report

    _, out, both, _ = two_files
    exp = exposure(both.matches.filter(~pl.col("generic")))
    assert exp.height > 20
    text = markdown_report(out, top=10_000)
    section = text[text.index("**Exposure**"):text.index("## Corpus side")]
    rows = [r.split("|")[1:-1] for r in section.splitlines() if re.match(r"\| [^-|]", r) and "post_id" not in r]
    rows = rows[:exp.height]
    keys = [(-int(r[1].replace(",", "")), natural_key(r[0].strip())) for r in rows]
    assert len(rows) == exp.height and keys == sorted(keys)
    html = html_report(out, top=10_000)
    table = html[html.index("<h3>Exposure"):]
    table = table[:table.index("</table>")]
    ids = re.findall(r"<tr><td>([^<]+)</td>", table)
    assert ids == [r[0].strip() for r in rows]


def test_report_of_a_sharded_index_is_the_unsharded_report(tmp_path: Path) -> None:
    """A sharded index keeps no posts.parquet at its top: the report reads every shard's (each checked
    against its own manifest) and says what the report of the same posts unsharded says."""
    from conftest import POSTS_CSV

    reports = {}
    for shards in (1, 3):
        index = api.build_index([POSTS_CSV], tmp_path / f"idx{shards}", id_field="tweet_id",
                                meta_fields=["name", "tweet_created"], shards=shards)
        api.scan(index, [PLANTED], tmp_path / f"out{shards}")
        text = markdown_report(tmp_path / f"out{shards}", top=50)
        reports[shards] = text[text.index("| measure |"):]
    assert not (tmp_path / "idx3" / "posts.parquet").exists()
    assert "**By month of creation**" in reports[3] and reports[3] == reports[1]
    shard = tmp_path / "idx3" / "shard-0001" / "posts.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    shard.write_bytes(bytes(data))
    with pytest.raises(ProvenanceError, match="shard-0001/posts.parquet: checksum differs"):
        markdown_report(tmp_path / "out3")


def test_shares_are_never_rounded_to_nothing() -> None:
    assert share_text(0.000032) == "0.0032 %"
    assert share_text(0.0047) == "0.47 %"
    assert share_text(0.032) == "3.2 %"
    assert share_text(0.0) == "0 %"
    assert share_text(1.0) == "100.0 %"


def test_top_matches_rank_by_evidence_and_collapse_identical_spans() -> None:
    from provenance.results.report_data import top_matches

    rows = [  # a stock phrase in three documents (containment 1), and a long real copy (containment 0.9)
        *({"doc_id": f"d{i}", "post_id": "p1", "source": "f", "row": i, "containment": 1.0, "span_tokens": 6,
           "evidence_bits": 60.0, "doc_text": "Thank you for  your time" if i else "thank you for your time", "generic": False}
          for i in range(3)),
        {"doc_id": "d9", "post_id": "p2", "source": "f", "row": 9, "containment": 0.9, "span_tokens": 20,
         "evidence_bits": 200.0, "doc_text": "a long and specific copied post", "generic": False},
        {"doc_id": "d8", "post_id": "p3", "source": "f", "row": 8, "containment": 1.0, "span_tokens": 20,
         "evidence_bits": 300.0, "doc_text": "not counted", "generic": True},
    ]
    tm = top_matches({"matches": pl.DataFrame(rows), "top": 10})
    assert tm["post_id"].to_list() == ["p2", "p1"]
    assert tm["same_span"].to_list() == [1, 3]


def test_markdown_escapes_what_it_did_not_write(tmp_path: Path) -> None:
    """Post ids, authors, dates and texts from the index and the corpus are shown as text: no raw HTML,
    and no '|' or newline that would break a table row."""
    import json

    evil_id, evil_name, evil_date = "<img src=x onerror=alert(1)>", "ev|il\n<b>name</b>", "<script>x</script> 2015-02-01"
    text = "the quick auditor found every licensed sentence hiding inside the long crawled page today"
    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"id": evil_id, "text": text, "name": evil_name, "created": evil_date}) + "\n"
                     + json.dumps({"id": "plain", "text": "another post nobody copied anywhere at all ever",
                                   "name": "x", "created": "2015-02-02"}) + "\n", encoding="utf-8")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "<i>doc</i>|1", "text": "Before. " + text + " After."}) + "\n", encoding="utf-8")
    api.build_index([posts], tmp_path / "idx", meta_fields=["name", "created"])
    result = api.scan(tmp_path / "idx", [corpus], tmp_path / "out")
    assert result.matches["post_id"].to_list() == [evil_id]
    md = markdown_report(tmp_path / "out", author_field="name", date_field="created")
    raw = re.findall(r"(?<!\\)<[^>]*>", md)  # an HTML tag whose '<' is not escaped
    assert raw == [], raw
    assert "\\<img src=x onerror=alert(1)\\>" in md  # shown, escaped
    for table in re.split(r"\n\n", md):
        rows = [r for r in table.splitlines() if r.startswith("|")]
        if rows:  # every row of a table has as many cells as its header
            cells = [len(re.findall(r"(?<!\\)\|", r)) for r in rows]
            assert len(set(cells)) == 1, rows
