"""What a scan counts as it matches: the running :class:`Tally` of documents, characters and matches,
and the characters that matched spans cover (:func:`covered_chars`). The shares and their intervals
are computed from a tally by :mod:`provenance.results.estimate`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..errors import Skipped

__all__ = ["Tally", "covered_chars"]


def covered_chars(starts: NDArray[np.int64], ends: NDArray[np.int64]) -> int:
    """Characters covered by the union of half-open spans ``[start, end)`` (overlaps counted once)."""
    if len(starts) == 0:
        return 0
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    reach = np.maximum.accumulate(e)
    # A span starts a new run when it begins at or after everything before it has ended.
    new_run = np.r_[True, s[1:] >= reach[:-1]]
    run = np.cumsum(new_run) - 1
    run_start = s[new_run]
    run_end = np.zeros(len(run_start), dtype=np.int64)
    np.maximum.at(run_end, run, e)
    return int((run_end - run_start).sum())


@dataclass
class Tally:
    """Running totals over a scan: documents and characters seen, candidates; what matched (documents,
    characters, posts) is counted once the whole scan is judged (:func:`provenance.results.significance.recount`)."""

    docs_scanned: int = 0
    corpus_chars: int = 0
    docs_matched: int = 0
    matched_chars: int = 0
    candidates: int = 0
    verified: int = 0
    aligned: int = 0  # pairs the shingle tests rejected that went on to the token alignment
    docs_total: int = 0  # documents read, sampled or not (= docs_scanned without --sample)
    chars_total: int = 0
    chars_sq: int = 0  # sums over the scanned documents for the ratio estimator: x = characters,
    matched_sq: int = 0  # y = matched characters: sum x^2, sum y^2, sum x*y
    cross: int = 0
    tokens_scanned: int = 0  # words of the scanned documents: the size of the search, for E-values
    posts_matched: set[int] = field(default_factory=set)
    skipped: Skipped = field(default_factory=Skipped)  # bad records and files left out (--on-error skip)

    COUNTS = ("docs_scanned", "corpus_chars", "docs_matched", "matched_chars", "candidates", "verified", "aligned",
              "docs_total", "chars_total", "chars_sq", "matched_sq", "cross", "tokens_scanned")
    """The integer totals (``posts_matched`` is the one set)."""

    def add(self, other: "Tally") -> None:
        """Add another tally's totals (a batch scanned elsewhere) to this one."""
        for name in self.COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.posts_matched |= other.posts_matched
        self.skipped.merge(other.skipped)

    def shares(self, posts_indexed: int) -> dict[str, float]:
        def share(a: int, b: int) -> float:
            return a / b if b else 0.0

        return {
            "share_posts_matched": share(len(self.posts_matched), posts_indexed),
            "share_docs_matched": share(self.docs_matched, self.docs_scanned),
            "share_chars_matched": share(self.matched_chars, self.corpus_chars),
        }
