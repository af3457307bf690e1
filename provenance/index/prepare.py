"""The text stage of an index build: a batch of posts made into rows, kinds, keys and hashes
(:class:`PreparedPosts`), before the posts get numbers. The one-process build feeds them to its
:class:`~.build.Builder` at once; a build on Dask (:mod:`.distributed`) stores them per input part."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from ..params import IndexParams
from ..text.hashing import sequence_keys
from ..text.shingles import TokenHasher, batch_shingles
from .format import EMPTY, KINDS, SHINGLED, SHORT

__all__ = ["PreparedPosts", "prepare_posts"]


@dataclass
class PreparedPosts:
    """What the text stage makes of a batch of posts, before they get post numbers: their posts-table
    rows, kinds, token counts, whole-text keys (short posts), first-shingle keys (short posts matched
    inside a sentence), and for the shingled posts their shingle hashes (``lengths`` a post, 0 for
    the others) and token hashes (``n_tokens`` a shingled post), concatenated in post order."""

    frame: pl.DataFrame
    kind: NDArray[np.uint8]
    n_tokens: NDArray[np.int64]
    exact: NDArray[np.uint64]
    heads: NDArray[np.uint64]
    shingles: NDArray[np.uint64]
    lengths: NDArray[np.int64]
    token_hashes: NDArray[np.uint64]

    def __len__(self) -> int:
        return len(self.kind)


def prepare_posts(batch: Any, params: IndexParams, hasher: TokenHasher) -> PreparedPosts:
    """The text stage of an index build for one batch of posts (:class:`PreparedPosts`)."""
    p = params
    sb = batch_shingles(batch.texts, p.ngram, hasher)
    n_tokens = sb.n_tokens
    kind = np.where(n_tokens == 0, EMPTY, np.where(n_tokens < p.short_tokens, SHORT, SHINGLED)).astype(np.uint8)
    exact = np.where(n_tokens > 0, sequence_keys(sb.token_hashes, sb.token_offsets[:-1], n_tokens, hasher.finish), np.uint64(0))
    # Short posts specific enough to be matched inside a sentence keep their first shingle.
    inline = kind == SHORT
    if inline.any():
        from ..text.background import default_background, span_bits

        short = np.flatnonzero(inline)
        if not hasher.keyed and hasher.seed == 0:  # the background model hashes tokens as this index does
            bits = default_background().bits_of_runs(sb.token_hashes, sb.token_offsets[:-1][short], n_tokens[short], sb.nospace)
        else:
            bits = span_bits(default_background(), [batch.texts[i] for i in short])
        inline[short] = bits >= p.inline_short_bits
    inline &= n_tokens >= p.ngram  # (a post with a shingle: its first is where a scan looks)
    heads = np.zeros(len(kind), dtype=np.uint64)
    heads[inline] = sb.hashes[sb.offsets[:-1][inline]]
    # Short posts keep no shingles: they match only as whole records or lines.
    counts = np.diff(sb.offsets)
    lengths = np.where(kind == SHINGLED, counts, 0)
    cols: dict[str, Any] = {
        "post_id": batch.ids,
        "source": [batch.source] * len(batch.ids),
        "row": batch.rows,
        "kind": np.array(KINDS)[kind].tolist(),
        "n_tokens": n_tokens,
        "exact_key": np.where(kind == SHORT, exact, np.uint64(0)),  # (only short posts are matched whole)
        "head_key": heads,
    }
    for name, values in batch.meta.items():
        cols[f"meta_{name}"] = values
    frame = pl.DataFrame(cols, schema_overrides={"row": pl.Int64, "n_tokens": pl.Int64, "exact_key": pl.UInt64,
                                                   "head_key": pl.UInt64})
    return PreparedPosts(frame, kind, np.asarray(n_tokens, dtype=np.int64), exact, heads,
                         sb.hashes[np.repeat(kind == SHINGLED, counts)], lengths.astype(np.int64),
                         sb.token_hashes[np.repeat(kind == SHINGLED, n_tokens)])
