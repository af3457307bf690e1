"""Routed probes: a batch matched against a sharded index whose probe tables are cut by key (routes,
:mod:`provenance.index.routes`), each document shingle probed once, in one part, whatever the number of
shards.

One batch takes two rounds:

1. each part probes the batch's shingles that fall in its key range: the seed hits (document shingle,
   post, seed, the post's number of seeds) and the short posts' head shingles among them;
2. the hits make the candidate pairs (the two-seeds rule applied over all of them), and each shard,
   given its part's share of the exact keys of the batch's short units (records, lines, runs from the
   heads found) and the candidate pairs of its own posts, looks the keys up in its part and verifies
   the pairs. The shards of later segments (appends, one directory each) are probed whole.

Where the rounds run is the caller's (:class:`RoutedRounds`): in this process
(:class:`provenance.scanner.pipeline.LocalShards`) or as tasks on the Dask workers that own the parts
and shards (:class:`provenance.scanner.dask_shards.RemoteShards`). The finds and candidate counts are
those of every shard probed whole (tested batch by batch, ``tests/test_routes.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from ..arrays import sorted_unique
from ..index.routes import RoutePart, RouteRef, route_of
from ..index.shards import ShardRef
from ..match.candidates import held_twice
from ..match.matcher import PostMatcher, short_found, short_units
from ..match.tally import Tally
from ..match.verify import Found
from ..params import ScanParams
from ..text.hashing import sequence_keys
from ..text.shingles import ShingleBatch

__all__ = ["Probed", "RouteLayout", "RoutedRounds", "Verified", "found_whole", "probe_part", "routed_find", "verify_in_shard"]

Probed = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""A part's answer to round 1: indices of the hashes it was given that hit a seed, the post (numbered over
the whole index), the seed (numbered in the part) and the post's number of seeds, one row a hit; then the
indices of the hashes that are a short post's head shingle."""

Verified = tuple[list[Found], tuple[int, int, int]]
"""A shard's finds (posts numbered in the shard) and its counts (candidates, verified, aligned)."""


class RoutedRounds(Protocol):
    """Where the two rounds of a routed batch run."""

    def probe(self, asked: list[tuple[int, np.ndarray]]) -> list[Probed]:
        """Round 1: :func:`probe_part` of each ``(part, hashes)``."""

    def second(self, sb: ShingleBatch, params: ScanParams, asked: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
               rest: list[int]) -> dict[int, Any]:
        """Round 2, by shard, ``(short, verified)``: for each ``(shard, keys, docs, posts)`` of ``asked``,
        part ``shard``'s short posts of the exact ``keys`` (:meth:`RoutePart.short`; None without keys) and
        the shard's finds among the pairs ``(docs, posts)`` (:func:`verify_in_shard`); for each shard of
        ``rest``, None and its finds in the whole batch (:func:`found_whole`)."""


def probe_part(part: RoutePart, hashes: np.ndarray) -> Probed:
    """Round 1 in one part."""
    return (*part.seeds(hashes), part.heads(hashes))


def verify_in_shard(matcher: PostMatcher, sb: ShingleBatch | None, params: ScanParams, docs: np.ndarray,
                    posts: np.ndarray) -> Verified:
    """A shard's finds among the candidate pairs routed to it (posts numbered in the shard)."""
    if not len(docs):
        return [], (0, 0, 0)
    tally = Tally()
    found = matcher.verify(sb, docs, posts, params, tally)
    return found, (0, tally.verified, tally.aligned)


def found_whole(matcher: PostMatcher, sb: ShingleBatch, params: ScanParams) -> Verified:
    """A shard's finds in the whole batch, probed in the shard itself (a later segment's)."""
    tally = Tally()
    found = matcher.find(sb, params, tally)
    return found, (tally.candidates, tally.verified, tally.aligned)


@dataclass(frozen=True)
class RouteLayout:
    """What routing a batch needs to know of the index: the parts, where each routed shard's posts start
    (and where the last one's end), how many shards there are in all (later segments' too), the token
    hasher's ``finish`` (for the short units' exact keys) and the index's ``short_tokens``."""

    parts: int
    first: np.ndarray
    n_shards: int
    finish: Any
    short_tokens: int

    @classmethod
    def of(cls, routes: RouteRef, refs: Sequence[ShardRef], routed: int, hasher: Any, short_tokens: int) -> "RouteLayout":
        """The layout of an index's ``refs`` (all its shards), the first ``routed`` of which ``routes`` covers."""
        covered = refs[:routed]
        first = np.array([r.first for r in covered] + [covered[-1].first + int(covered[-1].entry["posts"])], dtype=np.int64)
        return cls(routes.parts, first, len(refs), hasher.finish, short_tokens)

    @property
    def routed(self) -> int:
        return len(self.first) - 1


def _cut(part: np.ndarray, parts: int) -> list[np.ndarray]:
    """The indices of ``part`` equal to each ``r`` of ``range(parts)``, each increasing."""
    if parts <= 1 << 16:  # (numpy sorts 16-bit integers stably by radix: linear)
        part = part.astype(np.uint16)
    order = np.argsort(part, kind="stable")
    cuts = np.searchsorted(part[order], np.arange(parts + 1))
    return [order[cuts[r]:cuts[r + 1]] for r in range(parts)]


def routed_find(shape: RouteLayout, rounds: RoutedRounds, sb: ShingleBatch, params: ScanParams,
                tally: Tally) -> list[list[Found]]:
    """Each shard's finds in the batch (posts numbered in the shard), as a probe of every shard gives them;
    adds the candidate counts to ``tally``."""
    empty = np.zeros(0, dtype=np.int64)
    first, routed = shape.first, shape.routed
    # round 1: seed hits and head shingles, each shingle probed in its part
    by_part = _cut(route_of(sb.hashes, shape.parts), shape.parts)
    asked = [(r, at) for r, at in enumerate(by_part) if len(at)]
    probed = list(zip((at for _, at in asked), rounds.probe([(r, sb.hashes[at]) for r, at in asked])))
    at = np.concatenate([back[res[0]] for back, res in probed] + [empty])
    post = np.concatenate([res[1] for _, res in probed] + [empty])
    # (a seed's number in its part, made distinct over the parts by the parts' largest numbers before it)
    tops = np.array([int(res[2].max()) + 1 if len(res[2]) else 0 for _, res in probed], dtype=np.int64)
    shift = np.r_[0, np.cumsum(tops)[:-1]] if len(tops) else empty
    seed = np.concatenate([res[2].astype(np.int64) + d for (_, res), d in zip(probed, shift.tolist())] + [empty])
    count = np.concatenate([res[3] for _, res in probed] + [np.zeros(0, np.uint8)])
    heads = np.sort(np.concatenate([back[res[4]] for back, res in probed] + [empty]))
    doc = np.searchsorted(sb.offsets, at, side="right") - 1
    pair = (doc.astype(np.uint64) << np.uint64(32)) | post.astype(np.uint64)
    if params.two_seeds_from > 0:
        pair = held_twice(pair, seed, params.two_seeds_from, counts=count)
    else:
        pair = sorted_unique(pair)
    docs = (pair >> np.uint64(32)).astype(np.int64)
    posts = (pair & np.uint64(0xFFFFFFFF)).astype(np.int64)
    tally.candidates += len(docs)
    # the exact keys of the batch's short units (records, lines, runs at the heads found), cut by part
    units = short_units(sb, shape.short_tokens, heads)
    keys = sequence_keys(sb.token_hashes, units.first, units.count, shape.finish)
    keys_of = _cut(route_of(keys, shape.parts), shape.parts)
    # the candidate pairs, by the shard of their post (each shard's stay sorted by document, then post)
    shard_of = np.searchsorted(first, posts, side="right") - 1
    by_shard = np.argsort(shard_of, kind="stable")
    docs, posts, shard_of = docs[by_shard], posts[by_shard], shard_of[by_shard]
    cuts = np.searchsorted(shard_of, np.arange(routed + 1))
    pairs_of = [(docs[cuts[s]:cuts[s + 1]], posts[cuts[s]:cuts[s + 1]] - first[s]) for s in range(routed)]
    # round 2: one call a shard (with its part) looks the keys up and verifies the pairs; later segments'
    # shards are probed whole
    second = [(s, keys[keys_of[s]], *pairs_of[s]) for s in range(routed) if len(keys_of[s]) or len(pairs_of[s][0])]
    rest = list(range(routed, shape.n_shards))
    results = rounds.second(sb, params, second, rest) if second or rest else {}
    looked = [(keys_of[s], results[s][0]) for s, *_ in second if results[s][0] is not None]
    unit = np.concatenate([back[res[0]] for back, res in looked] + [empty])
    short_post = np.concatenate([res[1] for _, res in looked] + [empty])
    inline = np.concatenate([res[2] for _, res in looked] + [np.zeros(0, bool)])
    order = np.lexsort((short_post, unit))
    unit, short_post, inline = unit[order], short_post[order], inline[order]
    shard_of_short = np.searchsorted(first, short_post, side="right") - 1
    # the posts of one text that a shard holds (as the shard's own lookup counts them)
    group = unit * routed + shard_of_short
    _, inverse, sizes = np.unique(group, return_inverse=True, return_counts=True)
    same = sizes[inverse]
    keep = (unit < units.n_whole) | inline
    out: list[list[Found]] = []
    for s in range(shape.n_shards):
        found, counted = results[s][1] if s in results else ([], (0, 0, 0))
        tally.candidates += counted[0]
        tally.verified += counted[1]
        tally.aligned += counted[2]
        if s < routed:
            mine = np.flatnonzero(keep & (shard_of_short == s))
            found = found + short_found(sb, units, unit[mine], short_post[mine], same[mine])
        out.append(found)
    return out
