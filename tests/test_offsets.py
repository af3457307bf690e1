"""Token offsets for many texts at once (provenance.text.offsets) against the reference.

The scan reports a match's place in the original text from ``token_spans_many``; every offset must
be the one the per-text reference (``normalize.token_spans``) gives, for texts built from every
normalization case and in batches where texts meet at their edges (glued words, spans at an edge).
"""

from __future__ import annotations

import gzip
import json
from itertools import islice

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from provenance.text.offsets import token_spans
from provenance.text.offsets import token_spans_many
from tests.conftest import PLANTED
from tests.test_properties import props
from tests.test_vectorized import batches, glued


def assert_reference_spans(batch: list[str]) -> None:
    got = token_spans_many(batch)
    assert len(got) == len(batch)
    for text, (starts, ends) in zip(batch, got):
        ref_starts, ref_ends = token_spans(text)
        assert starts.dtype == np.int64 and ends.dtype == np.int64
        assert starts.tolist() == ref_starts.tolist(), text
        assert ends.tolist() == ref_ends.tolist(), text


@props(600)
@given(batches)
@example(["abc", "def"])
@example(["RT @bob: café... x http://t.co/abc hi", "a @b@c d", "x\x1cy @z"])  # spans; a control byte
@example(["e\u0301té ﬁne … ok...", "&#64;bob hi", "abc&hellip; x", "AT&T & co"])  # entities, and & alone
@example(["@bob", "http://x.y", "word..."])  # a span at the very end of a text, texts meeting there
@example(["가나다 라 www.x.kr/가", "\ud800abc", "x"])  # Hangul grows; a lone surrogate: all by the reference
def test_offsets_are_the_reference_offsets(batch: list[str]) -> None:
    assert_reference_spans(batch)


@props(200)
@given(glued)
def test_offsets_of_glued_texts(batch: list[str]) -> None:
    assert_reference_spans(batch)


def test_offsets_on_real_planted_documents() -> None:
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        batch = [json.loads(line)["text"] for line in islice(f, 300)]
    assert_reference_spans(batch)
