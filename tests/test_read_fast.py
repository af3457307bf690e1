"""The vectorized readers (JSONL chunks parsed with orjson, parquet slices by column) give exactly what
the record-by-record path gives: the same batches (rows, ids, texts, meta, nbytes, id_fallback), the
same error, the same skipped counts and first messages, the same sha256 taps; and the batcher cuts
batches where the one-record-at-a-time rule does.

Hypothesis, over arbitrary JSONL lines (valid, invalid, lone surrogates, nulls, non-string texts,
missing ids, huge integers, floats, duplicate keys, deep nesting, NaN, BOM, CRLF, blank lines, bad
UTF-8), compressed or not, cut short or not, with small chunks and buffers so that lines straddle
them. PROVENANCE_FUZZ_EXAMPLES=N runs N random examples per test instead of the fixed ones."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.errors import InputError, Skipped
from provenance.io import batching, jsonl, records, sources, streams
from provenance.io import Batch, InputFile, Part, expand_inputs, iter_batches, split_units, take_sha256

_FUZZ = os.environ.get("PROVENANCE_FUZZ_EXAMPLES")


def _settings(examples: int) -> Any:
    return settings(max_examples=int(_FUZZ or examples), derandomize=not _FUZZ, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def _outcome(paths: list[Path], skip: bool, units: int | None = None, fmt: str | None = None, **kw: Any) -> tuple[Any, ...]:
    """Everything a read shows: the batches' fields, the error, what was skipped, the sha256 taps."""
    skipped = Skipped() if skip else None
    batches, error = [], None
    files = expand_inputs(paths, fmt)
    if units is not None:
        files = split_units(files, units, kw.get("id_field", "id"))
    try:
        for b in iter_batches(files, skipped=skipped, **kw):
            batches.append((b.source, b.rows, b.ids, b.texts, b.meta, b.nbytes, b.id_fallback))
    except InputError as e:
        error = (str(e), e.kind)
    taps = [take_sha256(f) for f in files]
    return batches, error, None if skipped is None else (skipped.counts, skipped.first), taps


def _both(monkeypatch: pytest.MonkeyPatch, paths: list[Path], skip: bool, **kw: Any) -> tuple[Any, Any]:
    monkeypatch.setattr(records, "FAST", False)
    slow = _outcome(paths, skip, **kw)
    monkeypatch.setattr(records, "FAST", True)
    fast = _outcome(paths, skip, **kw)
    return slow, fast


# --------------------------------------------------------------------------------- JSONL lines

_INTS = st.one_of(st.integers(-1000, 1000), st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1,
                                                            10**30, -(10**30)]))
_FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e19, -0.0, 0.5, 2.0**63, 1e300]))
_TEXTS = st.one_of(st.text(max_size=40), st.text(alphabet="ab \n\t\\\"\u00e9\U0001F600", max_size=40),
                   st.sampled_from(["\ud83d", "a\udc00b", "\ud83d\ude00", "", "\x00", "\u2028", "a" * 5000]))
_SCALARS = st.one_of(st.none(), st.booleans(), _INTS, _FLOATS, _TEXTS)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from(["a", "id", "text"]), inner, max_size=3)),
                       max_leaves=6)
_MISSING = object()


_GOOD_IDS = st.one_of(st.text(min_size=1, max_size=8), st.integers(-(2**63), 2**64 - 1))
_GOOD_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), _INTS, st.floats(allow_nan=False, allow_infinity=False),
                                      st.text(max_size=10)),
                            lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                            max_leaves=4)


@st.composite
def _record_line(draw: st.DrawFn, good: bool = False, with_id: bool = True) -> bytes:
    """One JSON object as json.dumps writes it (ASCII or not), possibly with a duplicate key, an extra
    nested or numeric field, or deep nesting. ``good``: a text string and a string or integer id, as
    most records of a real file have."""
    fields: dict[str, Any] = {}
    choices = ((("id", _GOOD_IDS), ("text", st.text(max_size=60)), ("m", _GOOD_VALUES), ("x", _GOOD_VALUES)) if good else
               (("id", _VALUES), ("text", st.one_of(_TEXTS, _TEXTS, _VALUES)), ("m", _VALUES), ("x", _VALUES)))
    for name, values in choices:
        if good and name in ("id", "text"):
            value = draw(values) if name == "text" or with_id else _MISSING
        else:
            value = draw(st.one_of(st.just(_MISSING), values, values))
        if value is not _MISSING:
            fields[name] = value
    ascii_only = draw(st.booleans())
    body = json.dumps(fields, ensure_ascii=ascii_only)
    if draw(st.integers(0, 5 + 20 * good)) == 0 and body != "{}":  # a duplicate key: json and orjson keep the last
        body = body[:-1] + ", " + json.dumps({draw(st.sampled_from(["id", "text", "m"])): draw(_VALUES)})[1:]
    if draw(st.integers(0, 6 + 20 * good)) == 0:
        depth = draw(st.sampled_from([1, 100, 199, 200, 500, 990, 1000, 1023, 1100]))
        body = body[:-1] + (", " if body != "{}" else "") + '"deep": ' + "[" * depth + "]" * depth + "}"
    return body.encode("utf-8", "surrogatepass")  # (a raw lone surrogate: bytes that are not UTF-8)


_ODD_LINES = st.sampled_from([b"", b"   ", b"\r", b"\x0c", b"\x0b", b"[1]", b"null", b'"text"', b"3", b"{", b"{}",
                              b'{"text": NaN}', b'{"text": "a", "x": Infinity}', b'{"text": "a", "x": -Infinity}',
                              b'{"text": "\\ud800"}', b'{"text": "a\\udc00"}', b'{"text": "\\ud83d\\ude00", "id": "\\ud83d"}',
                              b'{"text": "a"} {"text": "b"}', b'{"text": "a",}', b'{"text": "\xff"}', b'{"text": "\xed\xa0\x80"}',
                              b'{"text": "a\tb"}', b'\xef\xbb\xbf{"text": "a"}', b'{"text": "a"}\x0c', b'{"text": "a"}\x00',
                              b'{"text": "a", "id": 1e400}', b'{"text": "a", "id": 1' + b"0" * 4400 + b"}",
                              b'{"text": "a", "m": 1' + b"0" * 400 + b"}", b'{"text": "a", "id": 01}', b'{"te\\u0078t": "b"}'])
_LINE = st.one_of(_record_line(), _record_line(), _record_line(), _ODD_LINES,
                  st.tuples(_record_line(), st.integers(0, 60)).map(lambda t: t[0][: t[1]]),  # cut short
                  _record_line().map(lambda line: line + b" \t\r"))


@st.composite
def _jsonl_file(draw: st.DrawFn) -> bytes:
    """Any lines, or (half the time) good records with now and then any line among them."""
    with_id = draw(st.booleans())
    good = st.integers(0, 30).flatmap(lambda k: _LINE if k == 0 else _record_line(good=True, with_id=with_id))
    lines = draw(st.lists(_LINE if draw(st.booleans()) else good, min_size=0, max_size=25))
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    data = eol.join(lines) + (eol if draw(st.booleans()) else b"")
    return (b"\xef\xbb\xbf" if draw(st.integers(0, 8)) == 0 else b"") + data


@_settings(300)
@given(data=_jsonl_file(), compression=st.sampled_from(["", ".gz", ".zst"]), cut=st.sampled_from([0, 0, 0, 1, 7, 40]),
       skip=st.booleans(), chunk=st.sampled_from([1, 100, 1 << 20]), buffer=st.sampled_from([64, 1000, 1 << 20]),
       batch=st.sampled_from([(1, 1 << 20), (3, 1 << 20), (512, 30), (512, 8 << 20)]),
       id_field=st.sampled_from(["id", None]), meta=st.sampled_from([(), ("m",), ("m", "id", "text")]),
       units=st.sampled_from([None, None, 50, 400]), fmt=st.sampled_from(["jsonl", "jsonl", "jsonl", "lines"]))
def test_jsonl_fast_path_is_the_line_by_line_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes,
                                                   compression: str, cut: int, skip: bool, chunk: int, buffer: int,
                                                   batch: tuple[int, int], id_field: str | None, meta: tuple[str, ...],
                                                   units: int | None, fmt: str) -> None:
    """Same batches, errors, skips and sha256 taps with the vectorized JSONL path as line by line (and
    with the chunked lines reader, fed the same lines, as line by line)."""
    monkeypatch.setattr(streams, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(streams, "LINE_BUFFER", buffer)
    packed = {"": data, ".gz": gzip.compress(data), ".zst": zstandard.ZstdCompressor().compress(data)}[compression]
    path = tmp_path / f"c.jsonl{compression}"
    path.write_bytes(packed[: len(packed) - cut] if compression else packed)
    slow, fast = _both(monkeypatch, [path], skip, batch_size=batch[0], max_batch_bytes=batch[1],
                       id_field=id_field, meta_fields=list(meta), units=units, fmt=fmt)
    assert fast == slow


def _long_records(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "\u00e9t\u00e9", "\U0001F600", "\\", '"']
    out = []
    for i in range(n):
        text = " ".join(rng.choice(words) for _ in range(rng.choice([1, 10, 300, 3000])))
        rec: dict[str, Any] = {"id": rng.choice([i, f"d{i}"]), "text": text, "m": rng.choice([None, 1, "x", True, 0.25])}
        out.append(json.dumps(rec, ensure_ascii=rng.random() < 0.5).encode())
    return b"\n".join(out) + b"\n"


@_settings(20)
@given(seed=st.integers(0, 10**6), bad=st.lists(st.tuples(st.integers(0, 199), _ODD_LINES), max_size=4),
       compression=st.sampled_from(["", ".gz", ".zst"]), cut=st.sampled_from([0, 0, 1, 500]), skip=st.booleans())
def test_long_lines_across_buffers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int,
                                   bad: list[tuple[int, bytes]], compression: str, cut: int, skip: bool) -> None:
    """Files of hundreds of KB (lines straddle the 8 KB gzip, 64 KB zstd and a shrunk plain buffer), a
    few bad lines among them, the stream possibly cut short: the same as line by line."""
    monkeypatch.setattr(streams, "CHUNK_BYTES", 50_000)
    monkeypatch.setattr(streams, "LINE_BUFFER", 20_000)
    lines = _long_records(200, seed).split(b"\n")
    for at, line in bad:
        lines[at] = line
    data = b"\n".join(lines)
    packed = {"": data, ".gz": gzip.compress(data), ".zst": zstandard.ZstdCompressor().compress(data)}[compression]
    path = tmp_path / f"c.jsonl{compression}"
    path.write_bytes(packed[: len(packed) - cut] if compression and cut else packed)
    for kw in ({"batch_size": 7}, {"batch_size": 512, "max_batch_bytes": 40_000, "meta_fields": ["m"]}):
        slow, fast = _both(monkeypatch, [path], skip, **kw)
        assert fast == slow


class _Trickle(io.RawIOBase):
    """A raw file that hands out at most a few bytes per read, as a remote stream may (short reads)."""

    def __init__(self, raw: Any, seed: int) -> None:
        self._raw, self._rng = raw, random.Random(seed)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._rng.choice([3, 7, 100, 4096, len(buffer)])  # (gzip wants its 2 magic bytes in one read)
        return self._raw.readinto(memoryview(buffer)[: min(n, len(buffer))])

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def close(self) -> None:
        self._raw.close()
        super().close()


@pytest.mark.parametrize("compression", ["", ".gz", ".zst"])
def test_short_raw_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str) -> None:
    """Raw reads that return less than asked for (a remote backend) give the same positions (nbytes)."""
    data = _long_records(300, 1)
    packed = {"": data, ".gz": gzip.compress(data), ".zst": zstandard.ZstdCompressor().compress(data)}[compression]
    path = tmp_path / f"c.jsonl{compression}"
    path.write_bytes(packed)
    monkeypatch.setattr(streams, "LINE_BUFFER", 5000)
    opened = sources.open_raw

    for seed in range(3):
        monkeypatch.setattr(sources, "open_raw", lambda p, s=seed: _Trickle(opened(p), s))
        slow, fast = _both(monkeypatch, [path], False, batch_size=5)
        assert fast == slow
        assert len({b[5] for b in fast[0]}) > 3  # (the positions do move)


def test_ordinary_files_take_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Common records (string or integer ids, string/int/bool/float/null meta, extra fields of any
    kind, blank lines, CRLF, a BOM) are read without the record-by-record fallback."""
    calls: list[int] = []
    monkeypatch.setattr(jsonl._JsonlReader, "_one_by_one", lambda self, chunk: calls.append(1) or iter(()))
    records = [{"id": 1, "text": "a", "m": 0.5, "extra": {"k": [1, 2.5, None]}}, {"id": "x", "text": "b", "m": None},
               {"id": 2**64 - 1, "text": "\U0001F600 caf\u00e9", "m": True, "extra": 10**30}]
    data = b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(r).encode() for r in records) + b"\r\n\r\n  \n"
    path = tmp_path / "c.jsonl"
    path.write_bytes(data)
    batches = list(iter_batches(expand_inputs([path]), meta_fields=["m"]))
    assert calls == []
    assert batches[0].ids == ["1", "x", str(2**64 - 1)] and batches[0].meta["m"] == ["0.5", None, "true"]
    assert batches[0].texts[2] == "\U0001F600 caf\u00e9"


# --------------------------------------------------------------------------------- parquet

@_settings(60)
@given(n=st.integers(1, 300), seed=st.integers(0, 10**6), id_kind=st.sampled_from(["str", "int", "float", "bool", "list", "none"]),
       nulls=st.sampled_from([0, 0, 1, 5]), empty_ids=st.booleans(), skip=st.booleans(),
       meta=st.sampled_from([(), ("s",), ("i", "f", "b", "l", "d", "st")]), batch=st.sampled_from([1, 7, 64]),
       categorical=st.booleans(), units=st.sampled_from([None, 2000]))
def test_parquet_fast_path_is_the_row_by_row_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int, seed: int,
                                                  id_kind: str, nulls: int, empty_ids: bool, skip: bool,
                                                  meta: tuple[str, ...], batch: int, categorical: bool,
                                                  units: int | None) -> None:
    import datetime as dt

    rng = random.Random(seed)
    texts: list[str | None] = [" ".join(rng.choice(["a", "b\u00e9", "\U0001F600"]) for _ in range(rng.randint(0, 30)))
                               for _ in range(n)]
    for _ in range(nulls):
        texts[rng.randrange(n)] = None
    ids: list[Any] = {"str": [f"p{i}" for i in range(n)], "int": list(range(n)), "float": [i / 2 for i in range(n)],
                      "bool": [i % 2 == 0 for i in range(n)], "list": [[i] for i in range(n)], "none": [None] * n}[id_kind]
    if empty_ids and id_kind == "str":
        ids[rng.randrange(n)] = ""
    if id_kind != "none" and nulls:
        ids[rng.randrange(n)] = None
    frame = pl.DataFrame({
        "text": pl.Series(texts, dtype=pl.Categorical if categorical else pl.String), "id": ids,
        "s": [rng.choice(["x", None, "\u00e9"]) for _ in range(n)], "i": [rng.choice([1, None, -5]) for _ in range(n)],
        "f": [rng.choice([0.5, None, -0.0, 1e19]) for _ in range(n)], "b": [rng.choice([True, False, None]) for _ in range(n)],
        "l": [[rng.randint(0, 3)] for _ in range(n)], "d": [dt.date(2020, 1, 1 + i % 28) for i in range(n)],
        "st": [{"k": i, "v": "w"} for i in range(n)],
    })
    path = tmp_path / "c.parquet"
    frame.write_parquet(path, row_group_size=rng.choice([10, 100, 100_000]))
    slow, fast = _both(monkeypatch, [path], skip, batch_size=batch, meta_fields=list(meta), units=units)
    assert fast == slow


def test_parquet_batches_carry_the_text_series(tmp_path: Path) -> None:
    """Parquet batches hand on the texts as a polars Series; JSONL batches build one on request."""
    texts = [f"text {i} \u00e9" for i in range(1000)]
    pl.DataFrame({"id": list(range(1000)), "text": texts}).write_parquet(tmp_path / "c.parquet")
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    for name, has in (("c.parquet", True), ("c.jsonl", False)):
        batches = list(iter_batches(expand_inputs([tmp_path / name]), batch_size=300))
        assert [b.text_series is not None for b in batches] == [has] * 4
        assert [t for b in batches for t in b.text_column().to_list()] == texts
    assert batches[0] == Batch(batches[0].source, batches[0].rows, batches[0].ids, batches[0].texts, {}, batches[0].nbytes,
                               batches[0].id_fallback)


# --------------------------------------------------------------------------------- the batcher


@_settings(200)
@given(lengths=st.lists(st.integers(0, 50), max_size=60), cuts=st.lists(st.integers(0, 60), max_size=6),
       batch_size=st.integers(1, 10), max_bytes=st.integers(1, 120))
def test_batches_are_cut_as_record_by_record(lengths: list[int], cuts: list[int], batch_size: int, max_bytes: int) -> None:
    """Whatever the pieces, a batch ends at the record that brings it to ``batch_size`` records or to
    ``max_bytes`` characters of text, and its nbytes is the position after that record."""
    rows = list(range(1, len(lengths) + 1))
    texts = ["x" * n for n in lengths]
    positions = [10 * r for r in rows]
    expected, batch, text_bytes, consumed = [], [], 0, 0
    for row, text in zip(rows, texts):
        batch.append(row)
        text_bytes += len(text)
        if len(batch) >= batch_size or text_bytes >= max_bytes:
            expected.append((batch, 10 * row - consumed))
            consumed, batch, text_bytes = 10 * row, [], 0
    if batch:
        expected.append((batch, 10 * len(rows) + 5 - consumed))
    bounds = sorted({0, len(rows), *(c for c in cuts if c <= len(rows))})
    pieces = [records.Piece(rows[a:b], [str(r) for r in rows[a:b]], texts[a:b], [], rows[a:b], positions[a:b])
              for a, b in zip(bounds, bounds[1:])]
    f = InputFile(Path("f.jsonl"), "jsonl", None, part=Part(0, 10 * len(rows) + 5, 10 * len(rows) + 5))
    opt = records.Options("text", "id")
    got = [(b.rows, b.nbytes) for b in batching._batches(f, iter(pieces), records.State(), opt, batch_size, max_bytes)]
    assert got == expected
