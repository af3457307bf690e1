"""``provenance report --posts``: each top match shows the post's text beside the document's span,
differences marked (token diff over normalized words), escaped; bad --posts files are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from provenance import api
from provenance.results.report_html import html_report
from provenance.results.report_markdown import markdown_report
from provenance.results.texts import NO_TEXTS, PostsSource, diff_pieces

from conftest import run_cli_here

POSTS = [
    {"id": "p1", "text": "<script>alert(1)</script> the gate agents at terminal four were wonderful & kind today"},
    {"id": "p2", "text": "my luggage went to Denver while I flew to Boston, nobody at the desk could explain why"},
    {"id": "p3", "text": "never again will I book a red eye flight with three connections and no meals served"},
]
DOCS = [  # p1 verbatim, p2 with one word replaced, p3 absent
    {"id": "d1", "text": "Forum post. <script>alert(1)</script> the gate agents at terminal four were wonderful & kind "
                         "today. End of post."},
    {"id": "d2", "text": "Someone wrote: my luggage went to Denver while I flew to Chicago, nobody at the desk could "
                         "explain why. Sad."},
]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("texts")
    posts, corpus = d / "posts.jsonl", d / "corpus.jsonl"
    posts.write_text("".join(json.dumps(p) + "\n" for p in POSTS), encoding="utf-8")
    corpus.write_text("".join(json.dumps(x) + "\n" for x in DOCS), encoding="utf-8")
    index = api.build_index([posts], d / "idx", id_field="id")
    result = api.scan(index, [corpus], d / "out")
    assert sorted(result.matches["post_id"].to_list()) == ["p1", "p2"]
    return d, posts, d / "out"


def test_diff_marks_the_words_that_differ_and_keeps_the_texts_whole() -> None:
    post, span = "Hello @bob the Flight was LATE again http://t.co/x", "hello the flight was very late again today"
    a, b = diff_pieces(post, span)
    assert "".join(t for t, _ in a) == post and "".join(t for t, _ in b) == span
    assert [t for t, d in a if d] == []  # case, the mention and the link are what normalization ignores
    assert [t for t, d in b if d] == ["very", "today"]
    a, b = diff_pieces("one two three four", "one zwei three four")
    assert [t for t, d in a if d] == ["two"] and [t for t, d in b if d] == ["zwei"]
    a, b = diff_pieces("alpha beta gamma delta", "alpha delta")
    assert [t for t, d in a if d] == ["beta gamma"] and not any(d for _, d in b)


def test_html_shows_the_post_beside_the_span_escaped_and_marked(small) -> None:
    d, posts, out = small
    html = html_report(out, posts=PostsSource((posts,)))
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "wonderful &amp; kind" in html
    assert html.count('<div class="post">') == 2 and html.count('<div class="span">') == 2
    assert "<del>Boston</del>" in html and "<ins>Chicago</ins>" in html
    cards = html[html.index('<div class="match">'):]
    assert cards.count("<del>") == 1 and cards.count("<ins>") == 1  # the verbatim copy differs nowhere
    assert NO_TEXTS not in html
    bare = html_report(out)
    assert bare.count(NO_TEXTS) == 1 and '<div class="post">' not in bare and "<del>" not in bare


def test_markdown_shows_the_post_beside_the_span(small) -> None:
    d, posts, out = small
    text = markdown_report(out, posts=PostsSource((posts,)))
    section = text[text.index("## Top matches"):]
    rows = [r for r in section.splitlines() if r.startswith(("| p1 |", "| p2 |"))]
    assert len(rows) == 2
    p2 = next(r for r in rows if r.startswith("| p2 |"))
    assert "~~Boston~~" in p2 and "**Chicago**" in p2 and "my luggage went to Denver" in p2
    p1 = next(r for r in rows if r.startswith("| p1 |"))
    assert "\\<script\\>alert(1)\\</script\\>" in p1 and "~~" not in p1 and "**" not in p1
    assert NO_TEXTS not in text and markdown_report(out).count(NO_TEXTS) == 1


def test_posts_through_the_cli_and_its_errors(small, tmp_path: Path) -> None:
    d, posts, out = small
    page = tmp_path / "r.html"
    proc = run_cli_here("report", out, "-o", page, "--posts", posts)
    assert proc.returncode == 0, proc.stderr
    assert page.read_text(encoding="utf-8") == html_report(out, posts=PostsSource((str(posts),)))
    # the fields default to the index's; given, they are used
    renamed = tmp_path / "renamed.csv"
    pl.DataFrame({"pid": [p["id"] for p in POSTS], "body": [p["text"] for p in POSTS]}).write_csv(renamed)
    proc = run_cli_here("report", out, "--posts", renamed, "--id-field", "pid", "--text-field", "body")
    assert proc.returncode == 0 and "~~Boston~~" in proc.stdout, proc.stderr
    no_id = tmp_path / "no_id.csv"
    pl.DataFrame({"text": [p["text"] for p in POSTS]}).write_csv(no_id)
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "zz", "text": "nothing to see"}) + "\n", encoding="utf-8")
    for args, file, said in [(["--posts", no_id], no_id, "'id'"),
                             (["--posts", renamed, "--id-field", "pid"], renamed, "'text'"),
                             (["--posts", other], other, "none of the 2 posts"),
                             (["--posts", tmp_path / "missing.csv"], tmp_path / "missing.csv", "")]:
        proc = run_cli_here("report", out, *args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert str(file) in proc.stderr and said in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli_here("report", out, "--id-field", "pid")
    assert proc.returncode == 2 and "--posts" in proc.stderr


# ----------------------------------------------------------------------------- index build --keep-text


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text(encoding="utf-8"))


def test_keep_text_adds_one_checksummed_file_and_changes_nothing_else(small, tmp_path: Path) -> None:
    d, posts, _ = small
    plain, kept = tmp_path / "plain", tmp_path / "kept"
    api.build_index([posts], plain, id_field="id")
    api.build_index([posts], kept, id_field="id", keep_text=True)
    a, b = _manifest(plain)["files"], _manifest(kept)["files"]
    assert "post_texts.parquet" not in a and not (plain / "post_texts.parquet").exists()
    assert set(b) == set(a) | {"post_texts.parquet"}
    assert all(b[name] == a[name] for name in a)  # every other file byte for byte the same
    for name in a:
        assert (plain / name).read_bytes() == (kept / name).read_bytes(), name
    texts = pl.read_parquet(kept / "post_texts.parquet")
    assert texts.columns == ["post_id", "text"] and texts.rows() == [(p["id"], p["text"]) for p in POSTS]
    from provenance.durable import sha256_of
    assert b["post_texts.parquet"]["sha256"] == sha256_of(kept / "post_texts.parquet")
    # what a scan finds does not depend on it
    corpus = d / "corpus.jsonl"
    assert api.scan(api.open_index(kept), [corpus]).matches.equals(api.scan(api.open_index(plain), [corpus]).matches)


def test_the_report_reads_the_texts_the_index_keeps(small, tmp_path: Path) -> None:
    d, posts, out = small
    kept = tmp_path / "kept"
    api.build_index([posts], kept, id_field="id", keep_text=True)
    api.scan(api.open_index(kept), [d / "corpus.jsonl"], tmp_path / "out")
    from_index = html_report(tmp_path / "out")
    from_file = html_report(tmp_path / "out", posts=PostsSource((posts,)))
    assert from_index == from_file and "<del>Boston</del>" in from_index and NO_TEXTS not in from_index
    assert markdown_report(tmp_path / "out") == markdown_report(tmp_path / "out", posts=PostsSource((posts,)))
    f = kept / "post_texts.parquet"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    proc = run_cli_here("report", tmp_path / "out")
    assert proc.returncode == 2 and str(f) in proc.stderr and "checksum" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_keep_text_in_a_sharded_index_and_on_append(tmp_path: Path) -> None:
    from conftest import POSTS_CSV

    index = api.build_index([POSTS_CSV], tmp_path / "sh", id_field="tweet_id", shards=3, keep_text=True)
    assert not (tmp_path / "sh" / "post_texts.parquet").exists()
    source = pl.read_csv(POSTS_CSV, columns=["tweet_id", "text"], schema_overrides={"tweet_id": pl.String})
    every = {}
    for i in range(3):
        shard = tmp_path / "sh" / f"shard-{i:04d}"
        texts, posts = pl.read_parquet(shard / "post_texts.parquet"), pl.read_parquet(shard / "posts.parquet")
        assert texts["post_id"].to_list() == posts["post_id"].to_list()  # its own posts, in its order
        assert "post_texts.parquet" in _manifest(shard)["files"]
        every.update(zip(texts["post_id"].to_list(), texts["text"].to_list()))
    assert len(every) == index.n_posts == source.height
    assert every == dict(zip(source["tweet_id"].to_list(), source["text"].to_list()))
    # an append keeps the texts (the index's and the new posts'); to an index without texts it is refused
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"tweet_id": "new1", "text": "a brand new post about delayed flights and lost bags"})
                     + "\n", encoding="utf-8")
    api.build_index([extra], tmp_path / "sh", id_field="tweet_id", append=True)
    last = pl.read_parquet(tmp_path / "sh" / "segment-0001" / "post_texts.parquet")  # (the append's segment)
    assert last["post_id"].to_list() == ["new1"] and sum(
        pl.read_parquet(tmp_path / "sh" / f"shard-{i:04d}" / "post_texts.parquet").height for i in range(3)) == source.height
    plain = tmp_path / "plain"
    api.build_index([extra], plain, id_field="tweet_id")
    proc = run_cli_here("index", "build", extra, "-o", plain, "--id-field", "tweet_id", "--append", "--keep-text", "-q")
    assert proc.returncode == 2 and "built without --keep-text" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_keep_text_is_refused_with_a_key(tmp_path: Path) -> None:
    from conftest import POSTS_CSV

    key = tmp_path / "KEY"
    key.write_bytes(bytes(range(32)))
    proc = run_cli_here("index", "build", POSTS_CSV, "-o", tmp_path / "idx", "--keep-text", "--key-file", key, "-q")
    assert proc.returncode == 2 and "--keep-text" in proc.stderr and "--key-file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "idx").exists()


def test_posts_files_of_several_builds_are_each_read_as_indexed(tmp_path: Path) -> None:
    """A CSV with an id column and a lines file appended to its index: ``report --posts`` reads each with the
    format and fields it was indexed with (no --id-field or --posts-format that would fit only one)."""
    from conftest import POSTS_CSV

    lines = [f"Lighthouse keeper number {i} counted {i * 7} ships passing the cold northern cape tonight" for i in range(30)]
    (tmp_path / "more.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    csv_post = pl.read_csv(POSTS_CSV, schema_overrides={"tweet_id": pl.String}).filter(
        pl.col("text").str.count_matches(" ") >= 14).row(0, named=True)
    filler = " ".join(f"word{i}" for i in range(50)) + ".\n"
    docs = [{"id": "d1", "text": filler + csv_post["text"] + "\n" + filler},
            {"id": "d2", "text": filler + lines[7] + "\n" + filler}]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    assert run_cli_here("index", "build", POSTS_CSV, "-o", "idx", "--id-field", "tweet_id", "-q", cwd=tmp_path).returncode == 0
    appended = run_cli_here("index", "build", "more.txt", "--format", "lines", "-o", "idx", "--append", "-q", cwd=tmp_path)
    assert appended.returncode == 0, appended.stderr
    assert run_cli_here("scan", "idx", "corpus.jsonl", "-o", "out", "-q", cwd=tmp_path).returncode == 0
    found = set(pl.read_parquet(tmp_path / "out" / "matches.parquet").filter(~pl.col("generic"))["post_id"])
    assert {csv_post["tweet_id"], "more.txt:8"} <= found
    proc = run_cli_here("report", "out", "-o", "r.md", "--posts", POSTS_CSV, "--posts", "more.txt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "(text not found)" not in report
    assert "Lighthouse" in report and csv_post["text"].split()[3] in report
