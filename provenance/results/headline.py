"""The report's headline in words: the answer in one sentence, the rows of the key figures, what a
generic match is, and a share written as a percentage."""

from __future__ import annotations

from typing import Any

__all__ = ["GENERIC_WORDS", "headline_rows", "share_text", "answer"]


GENERIC_WORDS = ("A match is *generic* when ordinary English text would write its span by chance more often "
                 "than once in 2^{bits:g} words (its evidence_bits under a background word-trigram model of "
                 "Wikipedia; below --min-evidence-bits): a stock phrase is as likely as a copy. Generic matches "
                 "are listed in matches.parquet but left out of every count and share above.")


def headline_rows(s: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The key figures of a summary as ``(measure, count, share)`` rows: the first table of both reports."""
    return [("posts found in the corpus", f"{s['posts_matched']:,} of {s['posts_indexed']:,}", f"{s['share_posts_matched']:.2%}"),
            ("documents containing posts", f"{s['docs_matched']:,} of {s['docs_scanned']:,}", f"{s['share_docs_matched']:.2%}"),
            ("characters that are posts", f"{s['matched_chars']:,} of {s['corpus_chars']:,}", f"{s['share_chars_matched']:.2%}"),
            ("verified matches", f"{s['matches']:,}", ""),
            *([("  of them generic (stock phrases, not counted)", f"{s['generic']['matches']:,}",
                f"{s['generic']['posts']:,} posts only so")] if s.get("generic", {}).get("matches") else [])]


def share_text(x: float) -> str:
    """A share in percent, with a decimal more below 1 %: 3.2 %, 0.47 %."""
    return f"{100 * x:.1f} %" if x >= 0.01 or x == 0 else f"{100 * x:.2f} %"


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
        return f"No licensed post was found in this corpus: 0 of {s['posts_indexed']:,} posts, {docs} scanned."
    interval = ""
    if est and est["ci_high"] > est["ci_low"]:
        conf = s["estimates"].get("confidence", 0.95)
        interval = f" ({100 * conf:g} % interval {share_text(est['ci_low'])[:-2]}–{share_text(est['ci_high'])})"
    return (f"{share_text(value)} of this corpus's characters{interval} are licensed posts: "
            f"{_count(s['posts_matched'], 'post')} found in {docs}.")
