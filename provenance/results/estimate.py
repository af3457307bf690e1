"""Corpus-level shares from a scan's tally (:class:`provenance.match.tally.Tally`), with their sampling
intervals when the scan sampled."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..match.tally import Tally

__all__ = ["estimates", "share_estimates"]


# ----------------------------------------------------------------------------- sampling estimates


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf((1 + confidence) / 2)


def _t(confidence: float, df: int) -> float:
    """Student's t quantile for a two-sided ``confidence`` interval (Cornish-Fisher expansion around
    the normal quantile: 1 % under the exact value at 5 degrees of freedom, closer above)."""
    z = _z(confidence)
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df * df)


def wilson(k: int, n: int, population: int, confidence: float) -> tuple[float, float, float]:
    """Share ``k / n`` of a simple random sample of ``n`` of ``population`` units, with the Wilson
    score interval (finite-population corrected: the effective sample size is ``n / (1 - n/N)``).
    A sample of the whole population is exact."""
    if n == 0:
        return 0.0, 0.0, 1.0
    p = k / n
    if n >= population:
        return p, p, p
    m = n / (1 - n / population)
    z2 = _z(confidence) ** 2
    center = (p + z2 / (2 * m)) / (1 + z2 / m)
    half = math.sqrt(z2) / (1 + z2 / m) * math.sqrt(p * (1 - p) / m + z2 / (4 * m * m))
    return p, max(0.0, center - half), min(1.0, center + half)


def ratio(t: Tally, confidence: float) -> tuple[float, float, float]:
    """Share of characters ``sum y / sum x`` over the sampled documents (a ratio estimator, documents
    as clusters), with a Taylor-linearization interval (t quantile), finite-population corrected."""
    n, big_n = t.docs_scanned, t.docs_total
    if n == 0 or t.corpus_chars == 0:
        return 0.0, 0.0, 1.0
    r = t.matched_chars / t.corpus_chars
    if n >= big_n or n < 2:
        return (r, r, r) if n >= big_n else (r, 0.0, 1.0)
    s2 = max(0.0, (t.matched_sq - 2 * r * t.cross + r * r * t.chars_sq) / (n - 1))
    mean_x = t.corpus_chars / n
    se = math.sqrt((1 - n / big_n) * s2 / n) / mean_x
    half = _t(confidence, n - 1) * se
    return r, max(0.0, r - half), min(1.0, r + half)


def posts_present(per_doc: NDArray[np.int64], per_post: NDArray[np.int64], sampled: int, total: int,
                  posts_indexed: int, confidence: float) -> tuple[float, float, float]:
    """How many indexed posts occur in the corpus, from a sample of ``sampled`` of its ``total``
    documents: ``per_doc`` = posts matched in each sampled document that has any, ``per_post`` =
    sampled documents holding each post found.

    * lower bound: the posts found (certain);
    * upper bound: a bound on the (document, post) pairs of the whole corpus, which are at least as
      many as the posts present: their Horvitz-Thompson estimate ``sum(per_doc) / f`` plus ``z``
      standard errors (sampling fraction ``f``). Tight when posts occur once each, loose when they
      are quoted in many documents;
    * value: Chao and Lin's richness estimator for sampling without replacement,
      ``found + Q1^2 / (2 m/(m-1) Q2 + f/(1-f) Q1)`` (``Q1``, ``Q2``: posts in exactly one or two
      sampled documents, ``m`` sampled documents), kept within the bounds.
    """
    found = len(per_post)
    if sampled >= total:
        return found, found, found
    if sampled == 0:
        return 0.0, 0.0, float(posts_indexed)
    f = sampled / total
    pairs = float(per_doc.sum()) / f
    se = math.sqrt((1 - f) / (f * f) * float((per_doc.astype(np.float64) ** 2).sum()))
    upper = min(float(posts_indexed), max(float(found), pairs + _z(confidence) * se))
    q1, q2 = int((per_post == 1).sum()), int((per_post == 2).sum())
    denominator = (sampled / (sampled - 1) if sampled > 1 else 1.0) * 2 * q2 + f / (1 - f) * q1
    unseen = q1 * q1 / denominator if denominator > 0 else 0.0
    return min(max(found + unseen, float(found)), upper), float(found), upper


def _estimate(v: tuple[float, float, float], method: str, full: bool) -> dict[str, Any]:
    return {"value": v[0], "ci_low": v[1], "ci_high": v[2], "method": "all documents scanned" if full else method}


_DOCS_METHOD = "Wilson score interval, finite-population corrected"
_CHARS_METHOD = "ratio estimator over sampled documents, Taylor linearization, t interval, finite-population corrected"


def share_estimates(t: Tally, confidence: float) -> dict[str, Any]:
    """The document and character shares of ``t`` (one input file's, say) with their intervals."""
    full = t.docs_scanned >= t.docs_total
    return {"share_docs_matched": _estimate(wilson(t.docs_matched, t.docs_scanned, t.docs_total, confidence),
                                            _DOCS_METHOD, full),
            "share_chars_matched": _estimate(ratio(t, confidence), _CHARS_METHOD, full)}


def estimates(t: Tally, posts_indexed: int, confidence: float,
              pairs: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None) -> dict[str, Any]:
    """``summary.json`` ``estimates``: each share as ``{value, ci_low, ci_high, method}`` and the
    corpus totals they project to. Exact (the interval is the value) when every document was scanned.
    ``pairs`` (of the counted (document, post) pairs: the posts of each document, the documents of each
    post) give the posts' share; without them it is the posts found."""
    full = t.docs_scanned >= t.docs_total
    docs = wilson(t.docs_matched, t.docs_scanned, t.docs_total, confidence)
    chars = ratio(t, confidence)
    if pairs is not None and len(pairs[1]):
        per_doc, per_post = pairs
    else:
        per_doc = per_post = np.zeros(len(t.posts_matched), dtype=np.int64)
    n = max(posts_indexed, 1)
    posts = tuple(v / n for v in posts_present(per_doc, per_post, t.docs_scanned, t.docs_total, posts_indexed,
                                               confidence))

    def est(v: tuple[float, float, float], method: str) -> dict[str, Any]:
        return _estimate(v, method, full)

    return {
        "confidence": confidence,
        **share_estimates(t, confidence),
        "share_posts_matched": est(posts, "Chao-Lin richness estimate; low: posts found; high: a bound on the "
                                          "(document, post) pairs of the corpus (Horvitz-Thompson)"),
        "docs_matched": _projected(docs, t.docs_total, t.docs_matched if full else None,
                                   "share_docs_matched x documents in the corpus"),
        "matched_chars": _projected(chars, t.chars_total, t.matched_chars if full else None,
                                    "share_chars_matched x characters in the corpus"),
    }


def _projected(share: tuple[float, float, float], total: int, exact: int | None, method: str) -> dict[str, Any]:
    """A share's projection to the whole corpus (the count itself when every document was scanned)."""
    if exact is not None:
        return {"value": exact, "ci_low": exact, "ci_high": exact, "method": "all documents scanned"}
    return {"value": share[0] * total, "ci_low": share[1] * total, "ci_high": share[2] * total, "method": method}
