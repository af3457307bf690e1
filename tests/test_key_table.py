"""The keys as the index stores them since format 10 (six bytes a key: counts of the top 16 bits, then
16 + 32 bits): nothing lost, and searched like the sorted uint64 array they stand for."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from provenance.index.lookup import KeyTable
from provenance.index.spill import KeyWriter, NpyWriter


def table_of(keys: np.ndarray, pieces: int = 1) -> KeyTable:
    counts = np.zeros(1 << 16, dtype=np.int64)
    his, los = [], []
    for part in np.array_split(keys, pieces):
        c, hi, lo = KeyTable.split(part)
        counts += c
        his.append(hi)
        los.append(lo)
    return KeyTable(counts.astype(np.uint16 if counts.max(initial=0) < 1 << 16 else np.uint32),
                    np.concatenate(his), np.concatenate(los))


hashes = st.integers(0, 2**64 - 1)
# keys that crowd a few top-16-bit buckets as well as spread ones, and the extremes
keys_st = st.lists(st.one_of(hashes, st.integers(0, 2**50), st.integers(2**64 - 2**50, 2**64 - 1),
                             st.sampled_from([0, 1, 2**48 - 1, 2**48, 2**64 - 1])), max_size=300, unique=True)


@settings(max_examples=150, deadline=None)
@given(keys_st, st.lists(hashes, max_size=200), st.integers(1, 4))
def test_the_table_reads_and_finds_as_the_sorted_array(keys: list[int], others: list[int], pieces: int) -> None:
    full = np.array(sorted(keys), dtype=np.uint64)
    table = table_of(full, pieces)
    assert len(table) == len(full)
    assert np.array_equal(np.asarray(table), full)
    if len(full):
        j = np.arange(len(full))[::-1]
        assert np.array_equal(table[j], full[j]) and table[len(full) // 2] == full[len(full) // 2]
        assert np.array_equal(table[1:4], full[1:4])
    needles = np.array(keys[::2] + others + [k ^ 1 for k in keys[:20]], dtype=np.uint64)
    where, key = table.find(needles)
    pos = np.searchsorted(full, needles)
    present = (pos < len(full)) & (full[np.minimum(pos, max(len(full) - 1, 0))] == needles) if len(full) else np.zeros(len(needles), bool)
    assert np.array_equal(where, np.flatnonzero(present))
    assert np.array_equal(key, pos[present])
    assert table.filter.maybe(full).all()  # no false negatives


def test_a_large_table_and_its_filter() -> None:
    rng = np.random.default_rng(5)
    full = np.unique(rng.integers(0, 2**64 - 1, 400_000, dtype=np.uint64))
    table = table_of(full, pieces=3)
    others = rng.integers(0, 2**64 - 1, 200_000, dtype=np.uint64)
    # a few needles are searched without making the filter, with the same answer
    few = np.concatenate([full[::1000], others[:3000], full[5::1000] ^ np.uint64(1)])
    where, key = table.find(few)
    assert "filter" not in table.__dict__
    assert np.array_equal(where, np.arange(len(full[::1000]))) and np.array_equal(key, np.arange(0, len(full), 1000))
    needles = np.concatenate([full[::7], others])
    where, key = table.find(needles)
    assert "filter" in table.__dict__
    assert np.array_equal(where, np.arange(len(full[::7])))  # (a random 64-bit hash is no key)
    assert np.array_equal(key, np.arange(0, len(full), 7))
    assert table.filter.maybe(others).mean() < 0.2


def test_the_writer_writes_what_the_table_reads(tmp_path) -> None:
    rng = np.random.default_rng(6)
    full = np.unique(rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64))
    w = KeyWriter(NpyWriter(tmp_path / "key_hi.npy", np.uint16), NpyWriter(tmp_path / "key_lo.npy", np.uint32))
    for part in np.array_split(full, 5):
        w.append(part)
    w.close(tmp_path / "key_counts.npy")
    counts = np.load(tmp_path / "key_counts.npy")
    assert counts.dtype == np.uint8 and len(counts) == 1 << 16  # (about one key a bucket here)
    table = KeyTable(counts, np.load(tmp_path / "key_hi.npy"), np.load(tmp_path / "key_lo.npy"))
    assert np.array_equal(np.asarray(table), full)


def test_parts_that_disagree_are_refused() -> None:
    counts, hi, lo = KeyTable.split(np.array([1, 2, 3], dtype=np.uint64))
    with pytest.raises(ValueError):
        KeyTable(counts, hi[:2], lo[:2])
    with pytest.raises(ValueError):
        KeyTable(counts[:100], hi, lo)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**64 - 1), st.integers(1, 64), st.lists(hashes, max_size=100),
       st.integers(0, 2**32 - 1), st.booleans())
def test_a_table_of_one_key_range_finds_as_a_search_of_the_sorted_array(n: int, low: int, width: int, others: list[int],
                                                                        seed: int, ranged: bool) -> None:
    """A route part's table holds one narrow range of hashes (format 18): its filter and buckets cut that
    range, and a lookup finds exactly the needles the table holds, whether the needles lie in the range,
    at its edges or outside it."""
    from provenance.index.lookup import KeyFilter, find_in

    rng = np.random.default_rng(seed)
    top = min(low + (1 << width) - 1, 2**64 - 1)
    keys = np.unique(rng.integers(low, top, size=n, dtype=np.uint64, endpoint=True))
    inside = rng.integers(low, top, size=100, dtype=np.uint64, endpoint=True)
    edges = np.array([low, top, max(low - 1, 0), min(top + 1, 2**64 - 1)], dtype=np.uint64)
    needles = np.concatenate([inside, keys[::3], edges, np.array(others, dtype=np.uint64)])
    filt = KeyFilter.of(keys, ranged=ranged)
    at, pos = find_in(keys, filt, needles)
    expected = np.flatnonzero(np.isin(needles, keys))
    assert np.array_equal(at, expected)
    assert np.array_equal(keys[pos], needles[at])
    assert filt.maybe(keys).all()  # (no key is ever filtered out)


def test_a_ranged_filter_keeps_its_resolution_within_the_range() -> None:
    """A part of 1/64 of the key space: a filter over all hashes would set nearly every slot the part's
    hashes can reach; one over the part's range lets about as few absent hashes through as a filter of
    a whole index does."""
    from provenance.index.lookup import KeyFilter

    rng = np.random.default_rng(7)
    low, width = 5 << 58, 58
    keys = np.unique(rng.integers(low, low + (1 << width), size=50_000, dtype=np.uint64))
    probes = rng.integers(low, low + (1 << width), size=200_000, dtype=np.uint64)
    absent = probes[~np.isin(probes, keys)]
    plain = KeyFilter.of(keys).maybe(absent).mean()
    ranged = KeyFilter.of(keys, ranged=True).maybe(absent).mean()
    assert plain > 0.9 and ranged < 0.15


@settings(max_examples=100, deadline=None)
@given(st.lists(hashes, max_size=300), st.lists(hashes, max_size=300), st.integers(16, 20))
def test_a_filter_sets_exactly_the_slots_of_its_keys_in_any_order(keys: list[int], others: list[int], bits: int) -> None:
    """Keys given sorted or not, in one call or two: the filter passes a hash exactly when some key shares
    its top bits (no key ever filtered out, no slot set that no key has)."""
    from provenance.index.lookup import KeyFilter

    k = np.array(keys, dtype=np.uint64)
    probe = np.concatenate([k, np.array(others, dtype=np.uint64)])
    slots = {int(x) >> (64 - bits) for x in keys}
    for window in (KeyFilter._WINDOW, 1 << 8):  # slots set in one window, and in many
        with patch.object(KeyFilter, "_WINDOW", window):
            f = KeyFilter.of(k[: len(k) // 2], bits=bits)
            f.add(k[len(k) // 2:])
        assert f.maybe(probe).tolist() == [int(x) >> (64 - bits) in slots for x in probe.tolist()]
