"""The report's headline in words: the answer in one sentence, the rows of the key figures, what a
generic match is, and a share written as a percentage."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["GENERIC_WORDS", "WHY_NOT_WORDS", "headline_rows", "not_counted_text", "share_text", "answer"]


GENERIC_WORDS = ("A verified match is *not counted* when it is no evidence of a copy: its span is common "
                 "ordinary text (fewer than {bits:g} bits under the background model), a short phrase that "
                 "many indexed posts share, not significant for the size of this search (its E-value, the "
                 "matches this strong chance alone would give, is above the bar), in the middle of a "
                 "sentence without overwhelming evidence, or found in so many documents that it is common "
                 "text of the corpus. Such matches are listed in matches.parquet (why_not says why) but left "
                 "out of every count and share above.")

WHY_NOT_WORDS = {"weak": "common ordinary text", "shared": "a phrase many posts share",
                 "chance": "not significant for this search", "inline": "mid-sentence, not strong enough",
                 "common": "in too many documents", "quoted": "the post quotes someone",
                 "newer": "the post is newer than the document"}
"""``why_not`` in a few words (tables)."""


def not_counted_text(s: dict[str, Any]) -> str:
    """The verified matches that do not count, by reason, in words: "chance 12, mid-sentence 3"."""
    reasons = s.get("significance", {}).get("not_counted", {})
    return "; ".join(f"{WHY_NOT_WORDS.get(k, k)}: {v:,}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))


def headline_rows(s: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The key figures of a summary as ``(measure, count, share)`` rows: the first table of both reports."""
    return [("posts found in the corpus", f"{s['posts_matched']:,} of {s['posts_indexed']:,}", share_text(s['share_posts_matched'])),
            ("documents containing posts", f"{s['docs_matched']:,} of {s['docs_scanned']:,}", share_text(s['share_docs_matched'])),
            ("characters that are posts", f"{s['matched_chars']:,} of {s['corpus_chars']:,}", share_text(s['share_chars_matched'])),
            ("verified matches", f"{s['matches']:,}", ""),
            *([("  of them not counted (no evidence of a copy)", f"{s['generic']['matches']:,}",
                not_counted_text(s) or f"{s['generic']['posts']:,} posts found only so")]
              if s.get("generic", {}).get("matches") else [])]


def share_text(x: float) -> str:
    """A share in percent, never rounded to nothing: one decimal from 1 %, two significant digits
    below (3.2 %, 0.47 %, 0.0032 %), and 0 % only for nothing."""
    pct = 100 * x
    if pct == 0:
        return "0 %"
    if pct >= 1:
        return f"{pct:.1f} %"
    return f"{pct:.{1 - math.floor(math.log10(pct))}f} %"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def answer(s: dict[str, Any]) -> str:
    """The report's answer in one sentence: the licensed share of the corpus's characters (with its
    interval when the scan sampled), the posts found and the documents holding them."""
    est = s.get("estimates", {}).get("share_chars_matched")
    value = est["value"] if est else s["share_chars_matched"]
    sampled = s.get("docs_total", s["docs_scanned"]) > s["docs_scanned"]
    docs = (f"{s['docs_matched']:,} of the {s['docs_scanned']:,} documents sampled (of {s['docs_total']:,})" if sampled
            else f"{s['docs_matched']:,} of {s['docs_scanned']:,} documents")
    if s["posts_matched"] == 0:
        return f"No copy of an indexed post was found in this corpus: 0 of {s['posts_indexed']:,} posts, {docs} scanned."
    interval = ""
    if est and est["ci_high"] > est["ci_low"]:
        conf = s["estimates"].get("confidence", 0.95)
        interval = f" ({100 * conf:g} % interval {share_text(est['ci_low'])[:-2]}–{share_text(est['ci_high'])})"
    return (f"{share_text(value)} of this corpus's characters{interval} are copies of indexed posts: "
            f"{_count(s['posts_matched'], 'post')} found in {docs}.")
