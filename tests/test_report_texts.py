"""``provenance report --posts``: each top match shows the post's text beside the document's span,
differences marked (token diff over normalized words), escaped; bad --posts files are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from provenance import api
from provenance.report import NO_TEXTS, PostsSource, diff_pieces, html_report, markdown_report

from conftest import run_cli

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
    proc = run_cli("report", out, "-o", page, "--posts", posts)
    assert proc.returncode == 0, proc.stderr
    assert page.read_text(encoding="utf-8") == html_report(out, posts=PostsSource((str(posts),)))
    # the fields default to the index's; given, they are used
    renamed = tmp_path / "renamed.csv"
    pl.DataFrame({"pid": [p["id"] for p in POSTS], "body": [p["text"] for p in POSTS]}).write_csv(renamed)
    proc = run_cli("report", out, "--posts", renamed, "--id-field", "pid", "--text-field", "body")
    assert proc.returncode == 0 and "~~Boston~~" in proc.stdout, proc.stderr
    no_id = tmp_path / "no_id.csv"
    pl.DataFrame({"text": [p["text"] for p in POSTS]}).write_csv(no_id)
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "zz", "text": "nothing to see"}) + "\n", encoding="utf-8")
    for args, file, said in [(["--posts", no_id], no_id, "'id'"),
                             (["--posts", renamed, "--id-field", "pid"], renamed, "'text'"),
                             (["--posts", other], other, "none of the 2 posts"),
                             (["--posts", tmp_path / "missing.csv"], tmp_path / "missing.csv", "")]:
        proc = run_cli("report", out, *args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert str(file) in proc.stderr and said in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("report", out, "--id-field", "pid")
    assert proc.returncode == 2 and "--posts" in proc.stderr
