"""The Python API: build an index, open it, scan corpora. Functions return results and never print.

Example::

    from provenance import api
    index = api.build_index(["posts.csv"], "idx", id_field="tweet_id", meta_fields=["name"])
    result = api.scan("idx", ["corpus/"], "out")
    print(result.summary["posts_matched"], result.matches.head())
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import polars as pl

from . import __version__
from .candidates import KeyFilter, containment_candidates, jaccard_candidates
from .errors import InputError
from .estimate import Tally, covered_chars
from .index import KIND_SHORT, Index, build_index as _build, open_index, save_index
from .normalize import TOKEN_RE, normalize, normalize_with_offsets, tokenize_with_offsets
from .params import IndexParams, ScanParams
from .read import Batch, expand_inputs, iter_batches, total_bytes
from .report import MATCH_SCHEMA, write_outputs
from .shingle import TokenHasher, batch_shingles, text_key
from .verify import MIN_PREFIX_SHARE, TRUNCATION_AFTER, exact_jaccard, verify_pair

__all__ = ["build_index", "open_index", "scan", "scan_texts", "ScanResult", "Progress"]

Progress = Callable[[int, int], None]
"""Called after each batch with (bytes read, records read) since the previous call."""


def build_index(
    posts: Sequence[str | Path],
    out: str | Path,
    *,
    params: IndexParams = IndexParams(),
    text_field: str = "text",
    id_field: str | None = "id",
    meta_fields: Sequence[str] = (),
    fmt: str | None = None,
    append: bool = False,
    force: bool = False,
    on_progress: Progress | None = None,
) -> Index:
    """Index the posts in ``posts`` (files or folders) and save the index to directory ``out``.

    With ``append``, the posts are added to the index already at ``out`` (its parameters are kept;
    ``params`` is ignored). Returns the saved :class:`Index`.
    """
    base = open_index(out) if append else None
    if base is not None:
        params = base.params
    files = expand_inputs(posts, fmt)
    batches = iter_batches(files, text_field=text_field, id_field=id_field, meta_fields=meta_fields)
    inputs = {
        "files": [{"path": str(f.path), "format": f.format, "bytes": f.path.stat().st_size} for f in files],
        "fields": {"text": text_field, "id": id_field, "meta": list(meta_fields)},
    }
    index = _build(batches, params, base=base, inputs=inputs, on_batch=on_progress)
    save_index(index, out, overwrite=append or force)
    return index


@dataclass
class ScanResult:
    """What a scan found: ``matches`` (one row per verified document–post match, columns as in
    :data:`provenance.report.MATCH_SCHEMA`) and ``summary`` (the content of summary.json)."""

    matches: pl.DataFrame
    summary: dict[str, Any]
    out_dir: Path | None = None


@dataclass
class _Scanner:
    index: Index
    params: ScanParams
    hasher: TokenHasher = field(init=False)
    key_filter: KeyFilter = field(init=False)
    short_keys: dict[int, list[int]] = field(init=False)
    timings: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "shingle": 0.0, "candidates": 0.0, "verify": 0.0})
    tally: Tally = field(default_factory=Tally)

    def __post_init__(self) -> None:
        ix = self.index
        self.hasher = TokenHasher(ix.params.seed)
        self.key_filter = KeyFilter(ix.keys)
        self.n_distinct = ix.posts["n_shingles"].to_numpy().astype(np.int64)
        self.n_frequent = ix.posts["n_frequent"].to_numpy().astype(np.int64)
        self.post_ids = ix.posts["post_id"].to_list()
        short = ix.posts.with_row_index("i").filter(pl.col("kind") == KIND_SHORT)
        self.short_keys = {}
        for i, key in zip(short["i"].to_list(), short["exact_key"].to_list()):
            self.short_keys.setdefault(key, []).append(i)

    # -- one batch ------------------------------------------------------------------------------

    def scan_batch(self, batch: Batch) -> list[dict[str, Any]]:
        p, ix, n = self.params, self.index, self.index.params.ngram
        t0 = time.perf_counter()
        norm = [normalize(t) for t in batch.texts]
        sb = batch_shingles(norm, n, self.hasher, normalized=True)
        t1 = time.perf_counter()
        found: list[tuple[int, int, str, float, float | None, int, int, int, int]] = []
        # (doc, post, method, containment, jaccard, first_token, last_token (inclusive), matched, distinct)
        if p.mode == "containment":
            min_share = p.min_containment * MIN_PREFIX_SHARE
            docs, posts = containment_candidates(ix, self.key_filter, sb, self.n_distinct, self.n_frequent, min_share)
        else:
            docs, posts = jaccard_candidates(ix, sb)
        t2 = time.perf_counter()
        self.tally.candidates += len(docs)
        truncation_checks: list[tuple[int, int, Any]] = []
        for d, post in zip(docs.tolist(), posts.tolist()):
            doc_sh, post_sh = sb.of(d), ix.post_shingles(post)
            if p.mode == "jaccard":
                j = exact_jaccard(doc_sh, post_sh)
                if j >= p.min_jaccard:
                    matched = len(np.intersect1d(np.unique(doc_sh), np.unique(post_sh)))
                    distinct = int(self.n_distinct[post])
                    found.append((d, post, "jaccard", matched / distinct, j, 0, int(sb.n_tokens[d]) - 1, matched, distinct))
                continue
            region = verify_pair(doc_sh, post_sh, p.window_slack)
            if region is None or region.span_tokens(n) < p.min_span_tokens:
                continue
            if region.containment >= p.min_containment:
                found.append((d, post, "containment", region.containment, None, region.first, region.last + n - 1,
                              region.matched, region.distinct))
            elif (region.prefix_containment >= p.min_containment
                  and region.prefix_distinct >= MIN_PREFIX_SHARE * region.distinct):
                truncation_checks.append((d, post, region))
        found.extend(self._short_matches(norm, sb.n_tokens, whole_only=p.mode == "jaccard"))
        rows = self._locate(batch, found, truncation_checks, sb.n_tokens)
        t3 = time.perf_counter()
        self.timings["shingle"] += t1 - t0
        self.timings["candidates"] += t2 - t1
        self.timings["verify"] += t3 - t2
        return rows

    def _short_matches(self, norm: list[str], n_tokens, *, whole_only: bool):
        """Short posts: exact normalized text of a whole record, or (containment mode) of a whole line."""
        out = []
        if not self.short_keys:
            return out
        seed, short = self.index.params.seed, self.index.params.short_tokens
        for d, text in enumerate(norm):
            if n_tokens[d] == 0:
                continue
            seen: set[int] = set()
            units = [(0, text)] if (whole_only or n_tokens[d] < short) else []
            if not whole_only and "\n" in text:
                units.extend(_lines(text))
            for start, line in units:
                words = TOKEN_RE.findall(line)
                if not 0 < len(words) < short:
                    continue
                posts = self.short_keys.get(text_key(words, seed))
                if not posts:
                    continue
                # Token positions of this unit within the document.
                first = len(TOKEN_RE.findall(text[:start]))
                for post in posts:
                    if post not in seen:
                        seen.add(post)
                        out.append((d, post, "exact_short", 1.0, 1.0 if whole_only else None, first,
                                    first + len(words) - 1, 0, 0))
        return out

    def _locate(self, batch: Batch, found, truncation_checks, n_tokens) -> list[dict[str, Any]]:
        """Turn token positions into character offsets of the original text; settle truncation cases."""
        by_doc: dict[int, list] = {}
        for f in found:
            by_doc.setdefault(f[0], []).append(f)
        for d, post, region in truncation_checks:
            by_doc.setdefault(d, []).append((d, post, "prefix", region))
        rows: list[dict[str, Any]] = []
        n = self.index.params.ngram
        for d in sorted(by_doc):
            text = batch.texts[d]
            toks = tokenize_with_offsets(text)
            if len(toks.words) != n_tokens[d]:
                raise RuntimeError(f"{batch.source}:{batch.rows[d]}: tokenizer mismatch "
                                   f"({len(toks.words)} != {n_tokens[d]}); please report this document")
            spans_s, spans_e = [], []
            for item in by_doc[d]:
                if item[2] == "prefix":
                    _, post, _, region = item
                    end = int(toks.ends[region.last + n - 1])
                    if not TRUNCATION_AFTER.match(text, end, min(len(text), end + 40)):
                        continue
                    item = (d, post, "containment_prefix", region.prefix_containment, None, region.first,
                            region.last + n - 1, region.matched, region.prefix_distinct)
                _, post, method, containment, jaccard, first, last, matched, distinct = item
                start, end = int(toks.starts[first]), int(toks.ends[last])
                spans_s.append(start)
                spans_e.append(end)
                rows.append({
                    "doc_id": batch.ids[d], "post_id": self.post_ids[post], "source": batch.source,
                    "row": batch.rows[d], "containment": float(containment), "jaccard": jaccard,
                    "doc_start": start, "doc_end": end, "method": method,
                    "span_tokens": last - first + 1, "matched_shingles": matched, "post_shingles": distinct,
                    "_post": post,
                })
            if spans_s:
                self.tally.docs_matched += 1
                self.tally.matched_chars += covered_chars(np.asarray(spans_s), np.asarray(spans_e))
        return rows


def _lines(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, line))
        pos += len(line) + 1
    return out


def _scan_batches(index: Index, batches: Iterable[Batch], params: ScanParams, on_progress: Progress | None):
    scanner = _Scanner(index, params)
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    it = iter(batches)
    while True:
        t0 = time.perf_counter()
        batch = next(it, None)
        scanner.timings["read"] += time.perf_counter() - t0
        if batch is None:
            break
        scanner.tally.docs_scanned += len(batch.texts)
        scanner.tally.corpus_chars += sum(map(len, batch.texts))
        batch_rows = scanner.scan_batch(batch)
        scanner.tally.posts_matched.update(r["_post"] for r in batch_rows)
        rows.extend(batch_rows)
        if on_progress:
            on_progress(batch.nbytes, len(batch.texts))
    scanner.timings["total"] = time.perf_counter() - t_start
    return scanner, rows


def _summary(index: Index, scanner: _Scanner, matches: pl.DataFrame, params: ScanParams, inputs: list[dict]) -> dict[str, Any]:
    t = scanner.tally
    counts = index.manifest.get("counts", {})
    short_idx = set(np.flatnonzero(index.posts["kind"].to_numpy() == KIND_SHORT).tolist())
    by_method = matches.group_by("method").len().sort("method") if matches.height else None
    return {
        "posts_indexed": index.n_posts,
        "posts_matched": len(t.posts_matched),
        "docs_scanned": t.docs_scanned,
        "docs_matched": t.docs_matched,
        "corpus_chars": t.corpus_chars,
        "matched_chars": t.matched_chars,
        **t.shares(index.n_posts),
        "matches": matches.height,
        "matches_by_method": dict(by_method.iter_rows()) if by_method is not None else {},
        "short_posts_indexed": counts.get("short_posts", 0),
        "short_posts_matched": len(t.posts_matched & short_idx),
        "empty_posts_indexed": counts.get("empty_posts", 0),
        "frequent_shingles": counts.get("frequent_shingles", 0),
        "posts_with_only_frequent_shingles": counts.get("posts_with_only_frequent_shingles", 0),
        "candidates": t.candidates,
        "params": {"index": index.params.to_dict(), "scan": params.to_dict()},
        "index": {"path": str(index.path) if index.path else None, "manifest_sha256": index.checksum},
        "inputs": inputs,
        "tool_version": __version__,
        "seconds": {k: round(v, 4) for k, v in scanner.timings.items()},
    }


def _run(index: Index | str | Path, batches: Iterable[Batch], params: ScanParams, inputs: list[dict],
         out_dir: str | Path | None, on_progress: Progress | None) -> ScanResult:
    if not isinstance(index, Index):
        index = open_index(index)
    scanner, rows = _scan_batches(index, batches, params, on_progress)
    matches = pl.DataFrame(rows, schema={**MATCH_SCHEMA, "_post": pl.Int64}).drop("_post")
    matches = matches.sort(["source", "row", "doc_start", "post_id"])
    summary = _summary(index, scanner, matches, params, inputs)
    out = None
    if out_dir is not None:
        t0 = time.perf_counter()
        out = write_outputs(out_dir, matches, summary)
        summary["seconds"]["write"] = round(time.perf_counter() - t0, 4)
    return ScanResult(matches, summary, out)


def scan(
    index: Index | str | Path,
    corpus: Sequence[str | Path],
    out_dir: str | Path | None = None,
    *,
    params: ScanParams = ScanParams(),
    text_field: str = "text",
    id_field: str | None = "id",
    fmt: str | None = None,
    on_progress: Progress | None = None,
) -> ScanResult:
    """Scan corpus files or folders against an index; write ``matches.parquet`` and
    ``summary.json`` to ``out_dir`` when given."""
    files = expand_inputs(corpus, fmt)
    inputs = [{"path": str(f.path), "format": f.format, "bytes": f.path.stat().st_size} for f in files]
    batches = iter_batches(files, text_field=text_field, id_field=id_field, batch_size=params.batch_size)
    return _run(index, batches, params, inputs, out_dir, on_progress)


def scan_texts(index: Index | str | Path, texts: Iterable[str], *, ids: Iterable[str] | None = None,
               params: ScanParams = ScanParams(), source: str = "<texts>") -> ScanResult:
    """Scan in-memory texts (ids default to their 1-based position)."""
    texts = list(texts)
    id_list = [str(i) for i in ids] if ids is not None else [str(i + 1) for i in range(len(texts))]
    if len(id_list) != len(texts):
        raise InputError(f"{source}: {len(id_list)} ids for {len(texts)} texts")
    step = params.batch_size
    batches = (Batch(source, list(range(i + 1, min(i + step, len(texts)) + 1)), id_list[i : i + step], texts[i : i + step], {},
                     sum(len(t) for t in texts[i : i + step])) for i in range(0, len(texts), step))
    return _run(index, batches, params, [{"path": source, "format": "memory"}], None, None)
