"""The background model's recipe (even halves of the shared Wikipedia and selftext, the odd ones held out),
the archive benchmark's reading of the held-out halves, and the calibration section
(benchmarks/calibration_background.py): span counts against a brute-force count, and one quick run."""

from __future__ import annotations

import gzip
import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from benchmarks import archive
from benchmarks import calibration_background as cb
from benchmarks.common import Context
from provenance.text import background as bg
from provenance.text.normalize import TOKEN_RE, normalize
from provenance.text.shingles import batch_shingles

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LONG = " and the council met again to talk about it for a long while before the vote." * 4  # >= 200 chars


def gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(text.encode("utf-8"))


def wiki_doc(doc_id: int, title: str, body: str) -> str:
    return f'<doc id="{doc_id}" url="?curid={doc_id}" title="{title}">\n{title}\n\n{body}\n</doc>\n'


@pytest.fixture()
def fake_data(tmp_path: Path) -> Path:
    """A shared-data folder in miniature: two Wikipedia files, four selftext records, one Wikinews file.
    Each file or record carries its own word (``wikizero`` …), three times so min_count 3 keeps it."""
    data = tmp_path / "data"
    for n, word in ((0, "wikizero"), (1, "wikione")):
        gz(data / bg.WIKIPEDIA / f"wiki_{n:02d}.gz", wiki_doc(10 + n, f"Page {n}", f"{word} {word} {word}{LONG}"))
    words = ["selfzero", "selfone", "selftwo", "selfthree"]
    gz(data / bg.SELFTEXT / "selftext.jsonl.gz",
       "".join(json.dumps({"id": f"r{i}", "subreddit": "x", "text": f"{w} {w} {w}{LONG}"}) + "\n"
               for i, w in enumerate(words)))
    gz(data / "wikinews_en" / "wiki_00.gz",
       json.dumps({"id": "7", "url": "u", "title": "News", "text": "news" + LONG, "revid": "1"}) + "\n")
    return data


def word_count(model: bg.Background, word: str) -> float:
    h = batch_shingles([word], 1, bg.plain_hasher()).token_hashes
    return float(model.count(1, (bg.gram_hashes(h, 1) >> np.uint64(32)).astype(np.uint32))[0])


# ----------------------------------------------------------------------------------------- the recipe


def test_the_bundled_recipe_reads_only_the_even_halves_and_is_reproducible(fake_data: Path, tmp_path: Path) -> None:
    assert bg.main(["build", str(tmp_path / "a"), "--data", str(fake_data)]) == 0
    assert bg.main(["build", str(tmp_path / "b"), "--data", str(fake_data)]) == 0
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name
    model = bg.load_background(tmp_path / "a")
    assert word_count(model, "wikizero") > 0 and word_count(model, "wikione") == 0  # even file only
    assert [word_count(model, w) > 0 for w in ("selfzero", "selfone", "selftwo", "selfthree")] == [True, False, True, False]
    sources = {s["name"]: s for s in model.manifest["sources"]}
    assert list(sources[bg.WIKIPEDIA]["files"]) == ["wiki_00.gz"] and sources[bg.WIKIPEDIA]["texts"] == 1
    assert sources[bg.SELFTEXT]["texts"] == 2 and sources[bg.SELFTEXT]["half"].startswith("even")
    assert "CC BY-SA 3.0" in sources[bg.WIKIPEDIA]["license"] and "PDDL" in sources[bg.SELFTEXT]["license"]
    assert model.manifest["text_stored"].startswith("none")
    # the other half, on request
    assert bg.main(["build", str(tmp_path / "odd"), "--data", str(fake_data), "--half", "odd"]) == 0
    odd = bg.load_background(tmp_path / "odd")
    assert word_count(odd, "wikione") > 0 and word_count(odd, "wikizero") == 0 and word_count(odd, "selfone") > 0


def test_archive_scans_only_the_held_out_halves(fake_data: Path) -> None:
    docs = archive.read_docs(fake_data)
    assert [d.id for d in docs["wikipedia"]] == ["wp-11"]  # wiki_01 only
    assert [d.id for d in docs["selftext"]] == ["rs-r1", "rs-r3"]  # odd line numbers
    assert [d.id for d in docs["wikinews"]] == ["wn-7"]  # all of Wikinews


# ----------------------------------------------------------------------------------------- counting spans


def brute_tokens(texts: list[str]) -> list[list[str]]:
    return [TOKEN_RE.findall(normalize(t)) for t in texts]


def test_span_counts_match_a_brute_force_count() -> None:
    rng = random.Random(5)
    vocab = ["a", "b", "c", "d", "the", "cat"]
    texts_a = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 30))) for _ in range(40)]
    texts_b = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 30))) for _ in range(60)]
    hasher = bg.plain_hasher()
    a, b = cb.tokenize(texts_a, hasher, batch=7), cb.tokenize(texts_b, hasher, batch=9)
    starts, lengths = cb.sample_spans(a, (2, 3, 5), 50, np.random.default_rng(1))
    counts, positions = cb.occurrences(a, starts, lengths, b)
    flat_a = [t for toks in brute_tokens(texts_a) for t in toks]
    toks_b = brute_tokens(texts_b)
    assert len(flat_a) == a.n
    ends_a = np.cumsum([len(t) for t in brute_tokens(texts_a)])
    for s, k, c in zip(starts.tolist(), lengths.tolist(), counts.tolist()):
        assert np.searchsorted(ends_a, s, side="right") == np.searchsorted(ends_a, s + k - 1, side="right")  # one text
        span = flat_a[s : s + k]
        assert c == sum(t[i : i + k] == span for t in toks_b for i in range(len(t) - k + 1))
    for k in (2, 3, 5):
        assert positions[k] == sum(max(len(t) - k + 1, 0) for t in toks_b)


def test_buckets_mean_predicted_and_observed_per_word() -> None:
    bits = np.array([1.0, 1.0, 3.0, 9.0])
    counts = np.array([4, 0, 2, 0])
    lengths = np.array([2, 2, 3, 2])
    rows = cb.buckets(bits, counts, lengths, {2: 8, 3: 4}, edges=(0, 2, 4, 16))
    assert [r["spans"] for r in rows] == [2, 1, 1]
    assert rows[0]["predicted"] == 0.5 and rows[0]["observed"] == (4 / 8 + 0) / 2 and rows[0]["gap"] == -1.0
    assert rows[1]["predicted"] == 0.125 and rows[1]["observed"] == 0.5 and rows[1]["gap"] == 2.0
    assert rows[2]["found"] == 0 and rows[2]["gap"] is None


# ----------------------------------------------------------------------------------------- the section


def test_run_without_data_is_skipped(tmp_path: Path) -> None:
    section = cb.run(Context(data=tmp_path / "missing", quick=True, work=tmp_path, log=lambda _: None))
    assert section.markdown.startswith("skipped")


@pytest.mark.skipif(not (DATA / "reddit_selftext").is_dir(), reason="../shared/data not found")
def test_quick_run_on_shared_data(tmp_path: Path) -> None:
    section = cb.run(Context(data=DATA, quick=True, work=tmp_path, log=lambda _: None))
    r = section.data
    assert r["spans"] == 2000 * len(cb.KS) and r["tokens_b"] > 100_000
    old, new = r["models"]
    for m in (old, new):
        assert sum(x["spans"] for x in m["buckets"]) == r["spans"]
        assert all(x["predicted"] > 0 and x["observed"] >= 0 for x in m["buckets"])
    # the conversational text is the point: spans of held-out Reddit text are far better predicted by the
    # bundled model than by a Wikipedia-only one
    assert abs(new["by_kind"]["selftext"]["0-24"]) + 1 < abs(old["by_kind"]["selftext"]["0-24"])
    assert "| predicted bits | model |" in section.markdown
    svg = Path(r["svg"])
    root = ET.fromstring(svg.read_text(encoding="utf-8"))
    assert root.tag.endswith("svg") and len(root.findall(".//{http://www.w3.org/2000/svg}polyline")) == 2
