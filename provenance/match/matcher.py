"""Matching documents against the posts of one index or shard: candidates from the keys, the shingle
verification, the token alignment of edited copies, partial copies and short posts
(:class:`PostMatcher`). What depends on several posts of a document is the scan's
(:mod:`provenance.api`): a matcher sees one shard's posts only."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from ..arrays import expand_ranges
from .candidates import jaccard_candidates, pair_hits, seed_candidates
from .tally import Tally
from ..index import Index, KeyFilter, find_in
from ..keys import align_subkey
from ..params import ScanParams
from ..text.shingles import ShingleBatch, TokenHasher
from ..text.hashing import sequence_keys
from .verify import CANDIDATE_SHARE, METHOD_CONTAINMENT, METHOD_NONE, Found, exact_jaccard, judge_many, verify_many
from .align import ALIGNED_MIN_TOKENS, PARTIAL_SHARE, align_many, allowed_edits, longest_runs, min_shingle_hits

__all__ = ["PostMatcher", "SHORT_LINE_MIN_TOKENS", "ShortUnits", "short_found", "short_units"]

FAN_OUT_ROWS = 4_000_000
"""A batch whose seed hits expand to more (candidate, post shingle) rows than this is halved (the
join needs a few tens of bytes per row at peak, most rows dropping at its first filter)."""

SHORT_LINE_MIN_TOKENS = 3
"""A short post found as a whole line of a document needs this many tokens (fewer is a heading)."""


@dataclass
class PostMatcher:
    """Finds the posts of ``index`` (a whole index, or a shard whose first post is post ``first`` of
    its index) in a batch of documents; :meth:`find` returns them numbered as in the whole index."""

    index: Index
    first: int = 0
    params: ScanParams = field(default_factory=ScanParams)  # (those of the current find)
    tally: Tally = field(default_factory=Tally)

    def __post_init__(self) -> None:
        ix = self.index
        self.hasher: TokenHasher = ix.token_hasher()
        self.code_subkey = align_subkey(ix.key.secret) if ix.key is not None else None
        # Per-post counts, memory-mapped from the index (pages are read as posts come up; stored as narrow
        # as they fit, so gathered values are widened before arithmetic that could leave their range).
        self.n_distinct, self.n_tokens = ix.post_distinct, ix.post_tokens
        # Short posts by exact key, sorted: a key's posts are a contiguous run.
        self.short_keys, self.short_posts = ix.short_keys, ix.short_posts
        # ... and the first shingles of those matched inside a sentence too (a sparse filter, 1 slot in
        # 128 set: almost every shingle of a document stops at its one gather).
        self.short_heads = np.asarray(ix.short_heads)
        self.short_heads_filter = (KeyFilter.of(self.short_heads, bits=min(KeyFilter.bits_for(len(self.short_heads)) + 4, 30))
                                   if len(self.short_heads) else None)

    def find(self, sb: ShingleBatch, params: ScanParams, tally: Tally) -> list[Found]:
        """The verified (document, post) matches of the batch, posts numbered as in the whole index;
        counts its candidates into ``tally``."""
        self.params, self.tally = params, tally
        if params.mode == "containment":
            docs, posts = seed_candidates(self.index, sb, params.two_seeds_from)
            tally.candidates += len(docs)
            found = self._in_runs(sb, docs, posts) + self._short_matches(sb)
        else:
            found = self._jaccard(sb) + self._short_matches(sb)
        return self._numbered(found)

    def verify(self, sb: ShingleBatch, docs: np.ndarray, posts: np.ndarray, params: ScanParams, tally: Tally) -> list[Found]:
        """The containment matches among the given candidate pairs ``(docs, posts)`` (sorted, distinct; posts
        numbered in this index), numbered as in the whole index: what :meth:`find` does after its probe, for a
        scan whose probes were routed elsewhere (:mod:`provenance.index.routes`). Counts the pairs it verifies
        into ``tally``, not the candidates (their probe counted those)."""
        self.params, self.tally = params, tally
        return self._numbered(self._in_runs(sb, np.asarray(docs, dtype=np.int64), np.asarray(posts, dtype=np.int64)))

    def _numbered(self, found: list[Found]) -> list[Found]:
        """``found`` with its posts numbered as in the whole index (a shard's first post is ``first``)."""
        return [_moved(f, 0, self.first) for f in found] if self.first else found

    def _in_runs(self, sb: ShingleBatch, docs: np.ndarray, posts: np.ndarray) -> list[Found]:
        """:meth:`_containment` of the candidate pairs ``(docs, posts)`` (sorted), a run of documents at a
        time while their posts' shingles would join to more than :data:`FAN_OUT_ROWS` rows, so that memory
        stays bounded (a run is cut between documents only: a document's pairs stay together)."""
        rows = np.cumsum((self.index.shingle_offsets[posts + 1] - self.index.shingle_offsets[posts]).astype(np.int64))
        found: list[Found] = []
        a = 0
        while a < len(docs):
            b = int(np.searchsorted(rows, (rows[a - 1] if a else 0) + FAN_OUT_ROWS, side="right"))
            b = max(b, a + 1)
            b = int(np.searchsorted(docs, docs[b - 1], side="right"))
            found += self._containment(sb, docs[a:b], posts[a:b])
            a = b
        return found

    def _containment(self, sb: ShingleBatch, docs: np.ndarray, posts: np.ndarray) -> list[Found]:
        p, ix, n = self.params, self.index, self.index.params.ngram
        # A whole copy needs min_containment of the post's shingles; a cut-off copy, judged on a
        # prefix, needs less but must hit the post's beginning.
        share = CANDIDATE_SHARE * p.min_containment
        # Every pair's shared shingles (the post's whole sequence joined to the document's) and a bound
        # on its best window: most pairs stop here.
        hits = pair_hits(ix, sb, docs, posts, p.window_slack)
        can_be_prefix = hits.first_post_pos < n
        need = np.ceil(np.where(can_be_prefix, share, p.min_containment) * self.n_distinct[posts] - 1e-9)
        # Pairs that an edited copy could still explain go on to the token alignment if the shingle
        # tests reject them.
        m = self.n_tokens[posts].astype(np.int64)
        alignable = hits.bound >= self._align_hits(posts)
        run_needed = np.maximum(p.min_partial_tokens, np.ceil(PARTIAL_SHARE * m - 1e-9).astype(np.int64))
        partial = (p.min_partial_tokens > 0) & (m >= run_needed) & (hits.bound >= run_needed - n + 1)
        keep = np.flatnonzero((hits.bound >= np.maximum(need, 2)) | alignable | partial)
        self.tally.verified += len(keep)
        if not len(keep):
            return []
        # Verify the surviving pairs all at once.
        counts = hits.offsets[keep + 1] - hits.offsets[keep]
        rows = expand_ranges(hits.offsets[keep], counts)
        kept_posts = posts[keep]
        lengths = ix.shingle_offsets[kept_posts + 1].astype(np.int64) - ix.shingle_offsets[kept_posts]
        # (compared as the posts' shingle ids: equal ids, equal shingles, within a post)
        regions = verify_many(np.r_[0, np.cumsum(counts)], hits.pos[rows], hits.ids[rows], np.r_[0, np.cumsum(lengths)],
                              ix.shingle_ids[expand_ranges(ix.shingle_offsets[kept_posts], lengths)],
                              self.n_distinct[kept_posts], n, p.window_slack)
        verdicts = judge_many(regions, self.n_tokens[kept_posts].astype(np.int64), n, p)
        found: list[Found] = []
        for j in np.flatnonzero(verdicts.method != METHOD_NONE).tolist():
            method = "containment" if verdicts.method[j] == METHOD_CONTAINMENT else "containment_prefix"
            found.append(Found(int(docs[keep[j]]), int(kept_posts[j]), method, float(verdicts.containment[j]),
                               float(verdicts.coverage[j]), None, int(regions.first[j]),
                               int(regions.last[j]) + n - 1, int(regions.matched[j]), int(verdicts.distinct[j])))
        # An edited whole copy may also read as a cut-off one (its words up to the first edit): the
        # alignment's verdict, which spans the whole post, comes first.
        rest = np.flatnonzero((verdicts.method != METHOD_CONTAINMENT) & alignable[keep])
        if len(rest):
            aligned = self._aligned(sb, docs[keep[rest]], kept_posts[rest], regions, rest)
            whole = {(f.doc, f.post) for f in aligned}
            found = [f for f in found if (f.doc, f.post) not in whole]
            found.extend(aligned)
        # Partial copies, among the pairs still rejected, and as the fallback of a cut-off copy that the
        # document may not confirm (a quote of the post's first half is no truncated copy).
        done = {(f.doc, f.post) for f in found if f.method != "containment_prefix"}
        rest = np.flatnonzero((verdicts.method != METHOD_CONTAINMENT) & partial[keep])
        rest = rest[[(int(d), int(q)) not in done for d, q in zip(docs[keep[rest]], kept_posts[rest])]]
        if len(rest):
            partials = {(f.doc, f.post): f for f in self._partial(sb, docs[keep[rest]], kept_posts[rest], regions, rest,
                                                                 run_needed[keep[rest]])}
            found = [replace(f, fallback=partials.pop((f.doc, f.post), None)) if f.method == "containment_prefix" else f
                     for f in found]
            found.extend(partials.values())
        return found

    def _align_hits(self, posts: np.ndarray) -> np.ndarray:
        """The shingle hits a pair needs to go on to the token alignment (none can for short posts)."""
        p = self.params
        m = self.n_tokens[posts].astype(np.int64)
        need = min_shingle_hits(m, self.index.params.ngram, p.min_aligned)
        return np.where(m >= p.min_span_tokens, need, np.iinfo(np.int64).max)

    def _pair_windows(self, sb: ShingleBatch, docs, posts, regions, rows):
        """What the token alignment and the run search need of each pair: the post's token codes (CSR),
        its length, its document's token range in the batch, and the diagonal of its best region."""
        ix, doc_first = self.index, sb.token_offsets
        lo, hi = ix.code_offsets[posts].astype(np.int64), ix.code_offsets[posts + 1].astype(np.int64)
        codes = ix.token_codes[expand_ranges(lo, hi - lo)]
        return (codes, np.r_[0, np.cumsum(hi - lo)], hi - lo, doc_first[docs], doc_first[docs + 1],
                regions.first[rows] - regions.post_first[rows])

    @staticmethod
    def _found(method: str, docs, posts, regions, rows, picks, coverage, first, last) -> list[Found]:
        """Found rows for the pairs ``picks`` (indexes into ``docs``/``posts``/``rows``), their shingle
        measures from ``regions`` and their token span ``first..last``."""
        out: list[Found] = []
        for j in picks.tolist():
            r = rows[j]
            out.append(Found(int(docs[j]), int(posts[j]), method, float(regions.matched[r] / max(regions.distinct[r], 1)),
                             float(coverage[j]), None, int(first[j]), int(last[j]), int(regions.matched[r]),
                             int(regions.distinct[r])))
        return out

    def _partial(self, sb: ShingleBatch, docs, posts, regions, rows, needed) -> list[Found]:
        """Partial copies: the pairs left whose longest verbatim run of the post is long enough."""
        codes, offsets, lengths, lo, hi, diagonal = self._pair_windows(sb, docs, posts, regions, rows)
        runs = longest_runs(codes, offsets, sb.token_hashes, lo, hi, diagonal, posts + self.first, self.code_subkey)
        return self._found("partial", docs, posts, regions, rows, np.flatnonzero(runs.length >= needed),
                           runs.length / lengths, runs.first, runs.first + runs.length - 1)

    def _aligned(self, sb: ShingleBatch, docs, posts, regions, rows) -> list[Found]:
        """Token alignment of the pairs the shingle tests rejected (see :mod:`provenance.match.align`)."""
        p = self.params
        self.tally.aligned += len(docs)
        codes, offsets, lengths, lo, hi, diagonal = self._pair_windows(sb, docs, posts, regions, rows)
        allowed = allowed_edits(lengths, p.min_aligned)
        fewest = np.maximum(lengths - allowed, min(p.min_span_tokens, ALIGNED_MIN_TOKENS))
        got = align_many(codes, offsets, sb.token_hashes, lo, hi, diagonal, posts + self.first, self.code_subkey, p.min_aligned,
                         needed=fewest)
        span = got.last - got.first + 1
        ok = (got.matched >= fewest) & (span - got.matched <= allowed) & (got.first >= 0)
        return self._found("aligned", docs, posts, regions, rows, np.flatnonzero(ok), got.matched / lengths,
                           got.first, got.last)

    def _jaccard(self, sb) -> list[Found]:
        docs, posts = jaccard_candidates(self.index, sb)
        self.tally.candidates += len(docs)
        self.tally.verified += len(docs)
        found: list[Found] = []
        for d, post in zip(docs.tolist(), posts.tolist()):
            doc_set, post_set = np.unique(sb.of(d)), np.unique(self.index.post_shingles(post))
            jac = exact_jaccard(doc_set, post_set)
            if jac >= self.params.min_jaccard:
                matched = len(np.intersect1d(doc_set, post_set, assume_unique=True))
                found.append(Found(d, post, "jaccard", matched / len(post_set), None, jac, 0, int(sb.n_tokens[d]) - 1,
                                   matched, len(post_set)))
        return found

    def _short_matches(self, sb: ShingleBatch) -> list[Found]:
        """Short posts match a record, or (containment mode) whole lines of a document — one line, or
        consecutive lines (a post with line breaks) — or a run of tokens inside a sentence, whose
        normalized text equals theirs; lines and runs need at least ``SHORT_LINE_MIN_TOKENS`` tokens.
        (Five words inside running text are often a phrase: the evidence strength of every match says
        which are, :meth:`_weigh`.)"""
        if not len(self.short_keys):
            return []
        heads = None
        if sb.line_starts is not None and self.short_heads_filter is not None:
            heads = find_in(self.short_heads, self.short_heads_filter, sb.hashes)[0]
        units = short_units(sb, self.index.params.short_tokens, heads)
        keys = sequence_keys(sb.token_hashes, units.first, units.count, self.hasher.finish)
        lo = np.searchsorted(self.short_keys, keys, side="left")
        hi = np.searchsorted(self.short_keys, keys, side="right")
        unit = np.repeat(np.arange(len(keys)), hi - lo)
        at = expand_ranges(lo, hi - lo)
        same_text = np.repeat(hi - lo, hi - lo)
        if len(unit) and unit[-1] >= units.n_whole:
            # A run inside a sentence is a match of the short posts matched inside sentences only: the
            # run was looked up because some post starts with its first shingle, but a post of that text
            # below inline_short_bits matches whole records and lines only (in whatever shard it is).
            keep = (unit < units.n_whole) | self._inline_short[at]
            unit, at, same_text = unit[keep], at[keep], same_text[keep]
        return short_found(sb, units, unit, self.short_posts[at], same_text)

    @cached_property
    def _inline_short(self) -> np.ndarray:
        """For each entry of ``short_posts``: whether its post is matched inside sentences (has a head key)."""
        return self.index.head_keys[np.asarray(self.short_posts, dtype=np.int64)] != 0


@dataclass(frozen=True)
class ShortUnits:
    """What a batch's short posts are looked up by: whole records, then whole lines and runs of lines
    (``n_whole`` in all, records first: ``n_records``), then runs of tokens inside sentences that start at
    a short post's head shingle; each as its document, first token (in the batch) and token count."""

    doc: np.ndarray
    first: np.ndarray
    count: np.ndarray
    n_whole: int
    n_records: int


def short_units(sb: ShingleBatch, short_tokens: int, heads: np.ndarray | None) -> ShortUnits:
    """The :class:`ShortUnits` of ``sb`` for posts of fewer than ``short_tokens`` tokens; ``heads``: the
    positions (increasing) of the batch's shingles that are some short post's head (None: no runs)."""
    doc_first = sb.token_offsets[:-1]
    records = np.flatnonzero((sb.n_tokens > 0) & (sb.n_tokens < short_tokens))
    docs, firsts, counts = [records], [doc_first[records]], [sb.n_tokens[records]]
    if sb.line_starts is not None:
        line_first = np.flatnonzero(sb.line_starts)  # lines with tokens only
        line_len = np.diff(np.r_[line_first, len(sb.line_starts)])
        line_doc = np.searchsorted(doc_first, line_first, side="right") - 1
        ends = np.r_[0, np.cumsum(line_len)]
        # Runs of m consecutive lines of one document, m = 1, 2, ... while they can stay short.
        for m in range(1, short_tokens):
            start = np.arange(len(line_first) - m + 1)
            tokens = ends[start + m] - ends[start]
            keep = start[(line_doc[start] == line_doc[start + m - 1]) & (tokens >= SHORT_LINE_MIN_TOKENS)
                         & (tokens < short_tokens)]
            if not len(keep):
                continue
            docs.append(line_doc[keep])
            firsts.append(line_first[keep])
            counts.append((ends[keep + m] - ends[keep]))
    n_whole = sum(len(a) for a in docs)  # records and lines; runs inside sentences come after
    if sb.line_starts is not None and heads is not None:
        for a, run in zip((docs, firsts, counts), _runs_at(sb, heads, short_tokens)):
            a.append(run)
    doc, first, count = (np.concatenate(a).astype(np.int64) for a in (docs, firsts, counts))
    return ShortUnits(doc, first, count, n_whole, len(records))


def _runs_at(sb: ShingleBatch, at: np.ndarray, short_tokens: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of ``SHORT_LINE_MIN_TOKENS``..``short_tokens - 1`` tokens within one document that start at
    the shingles ``at`` (head shingles of short posts matched inside sentences): (doc, first token, tokens)."""
    doc = np.searchsorted(sb.offsets, at, side="right") - 1
    first = sb.token_offsets[doc] + (at - sb.offsets[doc])  # shingle i of a text starts at its token i
    room = sb.token_offsets[doc + 1] - first
    lengths = np.arange(SHORT_LINE_MIN_TOKENS, short_tokens)
    fits = room[:, None] >= lengths[None, :]
    rows, cols = np.nonzero(fits)
    return doc[rows], first[rows], lengths[cols].astype(np.int64)


def short_found(sb: ShingleBatch, units: ShortUnits, unit: np.ndarray, posts: np.ndarray, same: np.ndarray) -> list[Found]:
    """The short posts' matches: ``posts[i]`` has the text of unit ``unit[i]`` (in order of unit, then post),
    ``same[i]`` posts share that text where it was looked up; a (document, post) pair once, at its first unit."""
    doc_first = sb.token_offsets[:-1]
    out: list[Found] = []
    seen: set[tuple[int, int]] = set()
    for u, post, n_same in zip(unit.tolist(), np.asarray(posts).tolist(), np.asarray(same).tolist()):
        d = int(units.doc[u])
        if (d, post) not in seen:
            seen.add((d, post))
            start = int(units.first[u] - doc_first[d])
            jaccard = 1.0 if u < units.n_records else None  # a whole record is the post; a line is part of one
            out.append(Found(d, post, "exact_short", 1.0, 1.0, jaccard, start, start + int(units.count[u]) - 1, 0, 0,
                             inline=u >= units.n_whole, shared=n_same))
    return out


def _moved(f: Found, docs: int, posts: int) -> Found:
    """``f`` with its document number ``docs`` and its post number ``posts`` higher."""
    return replace(f, doc=f.doc + docs, post=f.post + posts,
                   fallback=_moved(f.fallback, docs, posts) if f.fallback is not None else None)
