"""Readers of the shared real data (``../shared/data``), each written once.

Every benchmark section and ``fixtures/make_fixtures.py`` read the shared data through this module. Each
reader returns the records as the folder holds them (plain dicts, tuples or strings, in a fixed order);
what a caller makes of them (``benchmarks.plant``'s ``Post`` and ``Doc``, the fixtures' JSON records) is
the caller's business. Each folder's README describes its source and license.

Standard library only, and no import of ``provenance``: ``fixtures/make_fixtures.py`` (standard library
only) imports it too.

* :func:`read_airline` — ``twitter_us_airline_sentiment/Tweets.csv.gz``;
* :func:`read_tweeteval`, :func:`tweeteval_files` — ``tweeteval/**/<split>_text.txt.gz``;
* :func:`read_wikinews`, :func:`wikinews_files` — ``wikinews_en/wiki_*.gz``;
* :func:`read_wikipedia`, :func:`wikipedia_files` — ``wikipedia_en_sample/wiki_*.gz``;
* the labeled pair sets, as :class:`LabeledPairs`: :func:`load_twitter_url`
  (``twitter_url_paraphrase_train``), :func:`load_msrp` (``msrp_paraphrase``), :func:`load_clough`
  (``clough_stevenson_short_answer_reuse``); :data:`LOADERS` names them by folder.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "DEFAULT_DATA", "AIRLINE", "TWEETEVAL", "WIKINEWS", "WIKIPEDIA", "TWITTER", "MSRP", "CLOUGH",
    "read_airline", "tweeteval_files", "read_tweeteval", "wikinews_files", "read_wikinews", "wikipedia_files",
    "read_wikipedia", "read_lines", "LabeledPairs", "load_twitter_url", "load_msrp", "read_legacy_text",
    "load_clough", "LOADERS",
]

AIRLINE = "twitter_us_airline_sentiment"
TWEETEVAL = "tweeteval"
WIKINEWS = "wikinews_en"
WIKIPEDIA = "wikipedia_en_sample"
TWITTER = "twitter_url_paraphrase_train"
MSRP = "msrp_paraphrase"
CLOUGH = "clough_stevenson_short_answer_reuse"

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
"""Where the shared data is: ``shared/data`` next to the repository."""

MIN_DOC_CHARS = 200
"""Pages shorter than this are redirects, stubs or empty pages (both wiki folders' READMEs say so)."""

_WIKI_DOC = re.compile(r'<doc id="(\d+)"[^>]*? title="([^"]*)">\n(.*?)</doc>', re.DOTALL)


# ------------------------------------------------------------------------------------------ posts


def read_airline(data: Path) -> list[dict[str, str]]:
    """The airline tweets: folder ``twitter_us_airline_sentiment``, file ``Tweets.csv.gz`` (gzip RFC-4180 CSV,
    UTF-8, header row, quoted fields may hold line breaks). One dict per tweet with every column of the
    file (``tweet_id``, ``name``, ``tweet_created``, ``airline``, ``text``, ...), values as written;
    deduplicated by ``tweet_id`` (the first occurrence kept), sorted by numeric ``tweet_id``."""
    seen: dict[str, dict[str, str]] = {}
    with gzip.open(data / AIRLINE / "Tweets.csv.gz", "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["tweet_id"] not in seen:
                seen[row["tweet_id"]] = row
    return [seen[k] for k in sorted(seen, key=int)]


def tweeteval_files(data: Path) -> list[Path]:
    """The TweetEval text files: folder ``tweeteval``, files ``<task>/<split>_text.txt.gz`` (``stance``
    has one more level, its topic), gzip, one tweet per line; sorted by path."""
    return sorted((data / TWEETEVAL).glob("**/*_text.txt.gz"))


def read_tweeteval(data: Path) -> list[tuple[str, str]]:
    """Every TweetEval tweet (:func:`tweeteval_files`, in that order, blank lines skipped) as ``(id, text)``:
    id ``te-<task>-<split>-<line>`` (task ``stance-abortion`` for ``stance/abortion``, line 1-based), text
    the line without its line end (a trailing space is kept)."""
    root = data / TWEETEVAL
    posts: list[tuple[str, str]] = []
    for path in tweeteval_files(data):
        task = "-".join(path.parent.relative_to(root).parts)
        split = path.name[: -len("_text.txt.gz")]
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            for i, line in enumerate(f, 1):
                text = line.rstrip("\r\n")
                if text.strip():
                    posts.append((f"te-{task}-{split}-{i}", text))
    return posts


# ------------------------------------------------------------------------------------------ documents


def wikinews_files(data: Path) -> list[Path]:
    """The Wikinews files: folder ``wikinews_en``, files ``wiki_00.gz`` ... ``wiki_40.gz`` (gzip JSON Lines,
    WikiExtractor output); sorted by name."""
    return sorted((data / WIKINEWS).glob("wiki_*.gz"))


def read_wikinews(data: Path, min_chars: int = MIN_DOC_CHARS) -> list[dict[str, str]]:
    """Wikinews pages (:func:`wikinews_files`) whose ``text`` has at least ``min_chars`` characters, as dicts
    ``{"id", "url", "title", "text"}`` (values unchanged, ``revid`` dropped), sorted by numeric id."""
    docs: list[dict[str, str]] = []
    for path in wikinews_files(data):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if len(rec["text"]) >= min_chars:
                    docs.append({k: rec[k] for k in ("id", "url", "title", "text")})
    docs.sort(key=lambda d: int(d["id"]))
    return docs


def wikipedia_files(data: Path) -> list[Path]:
    """The Wikipedia files: folder ``wikipedia_en_sample``, files ``wiki_00.gz`` ... ``wiki_63.gz`` (gzip
    WikiExtractor "doc" format: ``<doc id=".." url=".." title="..">`` ... ``</doc>``, not valid XML);
    sorted by name."""
    return sorted((data / WIKIPEDIA).glob("wiki_*.gz"))


def read_wikipedia(data: Path, min_chars: int = MIN_DOC_CHARS,
                   files: Sequence[Path] | None = None) -> list[dict[str, str]]:
    """Wikipedia pages (:func:`wikipedia_files`, or only ``files`` of them) as dicts ``{"id", "title", "text"}``:
    ``title`` as written in the ``<doc>`` tag (HTML entities left escaped), ``text`` the body without its first
    line when that line repeats the title, then stripped; pages whose text has at least ``min_chars``
    characters, sorted by numeric id."""
    docs: list[dict[str, str]] = []
    for path in wikipedia_files(data) if files is None else files:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            raw = f.read()
        for m in _WIKI_DOC.finditer(raw):
            doc_id, title, body = m.groups()
            head, _, rest = body.partition("\n")
            text = (rest if head.strip() == title.strip() else body).strip()
            if len(text) >= min_chars:
                docs.append({"id": doc_id, "title": title, "text": text})
    docs.sort(key=lambda d: int(d["id"]))
    return docs


# ------------------------------------------------------------------------------------------ labeled pairs


@dataclass(frozen=True)
class LabeledPairs:
    """Text pairs with a class per pair and the binary rule that turns classes into labels.

    ``left[i]`` is the text whose containment in ``right[i]`` is measured. ``classes[i]`` names the pair's
    class; ``positive`` maps each class to ``True`` (positive), ``False`` (negative) or ``None`` (reported
    per class but left out of the precision/recall figures). ``note`` says where the texts and labels come
    from and which caveats apply; ``extra`` holds dataset-specific counts.
    """

    name: str
    left: list[str]
    right: list[str]
    classes: list[str]
    positive: dict[str, bool | None]
    note: str
    extra: dict[str, Any]

    def __len__(self) -> int:
        return len(self.left)

    def subset(self, index: NDArray[np.int64]) -> LabeledPairs:
        """The pairs at ``index`` (in that order), same rule and note."""
        idx = [int(i) for i in index]
        return LabeledPairs(self.name, [self.left[i] for i in idx], [self.right[i] for i in idx],
                            [self.classes[i] for i in idx], self.positive, self.note, self.extra)


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file (gzip if it ends in ``.gz``), without line ends."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return fh.read().splitlines()


def _check_parallel(name: str, *columns: Sequence[Any]) -> None:
    lengths = {len(c) for c in columns}
    if len(lengths) != 1:
        raise ValueError(f"{name}: parallel files have different line counts {sorted(lengths)}")


def load_twitter_url(folder: Path) -> LabeledPairs:
    """Twitter URL Paraphrase Corpus (train), folder ``twitter_url_paraphrase_train``: ``a.toks.gz`` and
    ``b.toks.gz`` (gzip, one lower-cased tokenised tweet per line, line i of a pairs with line i of b),
    ``sim.txt.gz`` labels (1 = paraphrase, 0 = not)."""
    left = read_lines(folder / "a.toks.gz")
    right = read_lines(folder / "b.toks.gz")
    sim = read_lines(folder / "sim.txt.gz")
    _check_parallel(folder.name, left, right, sim)
    bad = sorted({s for s in sim if s.strip() not in ("0", "1")})
    if bad:
        raise ValueError(f"{folder.name}: unexpected labels {bad[:5]} in sim.txt.gz (expected 0/1)")
    classes = ["paraphrase" if s.strip() == "1" else "non-paraphrase" for s in sim]
    note = ("`sim.txt.gz` is already binary: 1 = at least 4 of 6 annotators said paraphrase, 0 = at most 2 of 6; "
            "the ambiguous 3-of-6 pairs were dropped by the corpus authors (the vote counts are not in this copy, "
            "so nothing more can be dropped here). Positive = 1. Containment is side `a` (mostly the headline "
            "tweet) inside side `b` (another tweet linking the same URL). Texts are lower-cased and tokenised "
            "upstream, so `&amp;` appears as `& amp ;` and survives normalization as the token `amp`, and "
            "`word ...` keeps `word` (the scanner drops a word glued to `...`).")
    return LabeledPairs(TWITTER, left, right, classes, {"paraphrase": True, "non-paraphrase": False}, note, {})


def load_msrp(folder: Path) -> LabeledPairs:
    """Microsoft Research Paraphrase Corpus, folder ``msrp_paraphrase``: ``{train,test}/a.toks``, ``b.toks``
    (plain text, one lower-cased tokenised sentence per line, line i of a pairs with line i of b) and
    ``sim.txt`` (1 = paraphrase, 0 = not); both splits pooled, train first."""
    left: list[str] = []
    right: list[str] = []
    classes: list[str] = []
    splits: dict[str, int] = {}
    for split in ("train", "test"):
        a = read_lines(folder / split / "a.toks")
        b = read_lines(folder / split / "b.toks")
        sim = read_lines(folder / split / "sim.txt")
        _check_parallel(f"{folder.name}/{split}", a, b, sim)
        bad = sorted({s for s in sim if s.strip() not in ("0", "1")})
        if bad:
            raise ValueError(f"{folder.name}/{split}: unexpected labels {bad[:5]} in sim.txt (expected 0/1)")
        left += a
        right += b
        classes += ["paraphrase" if s.strip() == "1" else "non-paraphrase" for s in sim]
        splits[split] = len(a)
    note = (f"Train ({splits['train']:,} pairs) and test ({splits['test']:,}) pooled: nothing is fitted apart from "
            "the reported best-F1 threshold. Positive = `sim` 1 (judged semantically equivalent). Containment is "
            "sentence `a` inside sentence `b`. Negatives are sentences about the same event, often with much "
            "wording in common.")
    return LabeledPairs(MSRP, left, right, classes, {"paraphrase": True, "non-paraphrase": False}, note,
                        {"splits": splits})


def read_legacy_text(path: Path) -> tuple[str, bool]:
    """File text as UTF-8, else as Windows-1252 (undecodable bytes replaced); second value: fell back."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), True


def load_clough(folder: Path) -> LabeledPairs:
    """Clough & Stevenson short-answer reuse, folder ``clough_stevenson_short_answer_reuse``: the rows of
    ``file_information.csv`` (``File,Task,Category``) in order, each answer (a ``.txt`` file, UTF-8 or
    Windows-1252: :func:`read_legacy_text`) paired with the source text of its task (the ``orig`` row,
    ``orig_task<X>.txt``); classes ``cut``, ``light``, ``heavy``, ``non``."""
    with open(folder / "file_information.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    sources: dict[str, str] = {}
    fallback = 0
    for row in rows:
        if row["Category"].strip() == "orig":
            text, fell_back = read_legacy_text(folder / row["File"].strip())
            sources[row["Task"].strip()] = text
            fallback += fell_back
    left: list[str] = []
    right: list[str] = []
    classes: list[str] = []
    for row in rows:
        category, task = row["Category"].strip(), row["Task"].strip()
        if category == "orig":
            continue
        if task not in sources:
            raise ValueError(f"{folder.name}: no source text for task {task!r} ({row['File']})")
        text, fell_back = read_legacy_text(folder / row["File"].strip())
        fallback += fell_back
        left.append(text)
        right.append(sources[task])
        classes.append(category)
    positive: dict[str, bool | None] = {"cut": True, "light": True, "heavy": None, "non": False}
    unknown = sorted(set(classes) - set(positive))
    if unknown:
        raise ValueError(f"{folder.name}: unexpected categories {unknown}")
    note = (f"{len(left)} answers, each paired with the source text of its own task; containment is the answer "
            "inside the source (the share of the answer's shingles that come from the source — the answer plays "
            "the post, the source the document). Positives = cut + light (copy-paste and light revision), "
            "negatives = non (written independently); heavy rewrites are reported as their own row but left out "
            "of precision/recall, with a separate AUC that counts them as positives. "
            f"{fallback} files are not valid UTF-8 and were read as Windows-1252.")
    return LabeledPairs(CLOUGH, left, right, classes, positive, note,
                        {"sources": len(sources), "cp1252_files": fallback})


LOADERS = ((TWITTER, load_twitter_url), (MSRP, load_msrp), (CLOUGH, load_clough))
"""The labeled pair sets: (folder name, loader taking that folder)."""
