"""Tests for provenance.io: formats, expansion, ids, meta, batching, and bad input."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
import zstandard

from provenance.errors import InputError, ParameterError
from provenance.io import (
    FORMATS,
    Batch,
    InputFile,
    Selection,
    describe,
    expand_inputs,
    iter_batches,
    total_bytes,
)

DOCS = [
    {"id": 1, "text": "first document", "lang": "en"},
    {"id": 2, "text": "zweites Dokument, ümlaut", "lang": "de"},
    {"id": 3, "text": "", "lang": None},
]


def jsonl_bytes(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def read_all(paths: list[Path] | Path, fmt: str | None = None, **kw) -> list[Batch]:
    paths = paths if isinstance(paths, list) else [paths]
    return list(iter_batches(expand_inputs(paths, fmt), **kw))


def records(batches: list[Batch]) -> list[tuple[str, int, str, str]]:
    return [(b.source, r, i, t) for b in batches for r, i, t in zip(b.rows, b.ids, b.texts)]


def input_error(paths: list[Path] | Path, fmt: str | None = None, **kw) -> str:
    with pytest.raises(InputError) as info:
        read_all(paths, fmt, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------ formats


@pytest.mark.parametrize("suffix", ["jsonl", "ndjson", "json", "jsonl.gz", "jsonl.zst"])
def test_jsonl_round_trip(tmp_path: Path, suffix: str) -> None:
    data = jsonl_bytes(DOCS)
    if suffix.endswith(".gz"):
        data = gzip.compress(data)
    elif suffix.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path = write(tmp_path / f"c.{suffix}", data)
    (f,) = expand_inputs([path])
    assert f.format == "jsonl"
    assert f.compression == {"gz": "gzip", "zst": "zstd"}.get(suffix.rsplit(".", 1)[-1])
    batches = read_all(path, meta_fields=["lang"])
    assert len(batches) == 1
    b = batches[0]
    assert b.source == str(path)
    assert b.rows == [1, 2, 3]
    assert b.ids == ["1", "2", "3"]
    assert b.texts == [d["text"] for d in DOCS]
    assert b.meta == {"lang": ["en", "de", None]}
    assert b.nbytes == path.stat().st_size
    assert not b.id_fallback


def test_zstd_multiple_frames(tmp_path: Path) -> None:
    c = zstandard.ZstdCompressor()
    path = write(tmp_path / "c.jsonl.zst", c.compress(jsonl_bytes(DOCS[:2])) + c.compress(jsonl_bytes(DOCS[2:])))
    assert [t for *_, t in records(read_all(path))] == [d["text"] for d in DOCS]


def test_bom_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", b"\xef\xbb\xbf" + jsonl_bytes(DOCS).replace(b"\n", b"\r\n"))
    assert read_all(path)[0].texts == [d["text"] for d in DOCS]


def test_csv_quoted_multiline_field(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", 'id,text,author\n7,"line one\nline ""two""",ann\n8,plain,bob\n')
    (b,) = read_all(path, meta_fields=["author"])
    assert b.rows == [1, 2]
    assert b.ids == ["7", "8"]
    assert b.texts == ['line one\nline "two"', "plain"]
    assert b.meta == {"author": ["ann", "bob"]}


def test_tsv(tmp_path: Path) -> None:
    path = write(tmp_path / "p.tsv", "\ufefftext\tid\nhello, world\ta\n\nsecond\tb\n")
    (b,) = read_all(path)
    assert (b.rows, b.ids, b.texts) == ([1, 2], ["a", "b"], ["hello, world", "second"])


def test_tsv_has_no_quoting(tmp_path: Path) -> None:
    """IANA TSV (as ../shared/data/reddit_titles is written): a quotation mark is an ordinary character,
    also at the start of a field, and a field ends at the tab or the line's end."""
    path = write(tmp_path / "p.tsv", 'id\ttitle\nx1\t"Physics" and guns\nx2\tNotch said "hi\nx3\t""\n')
    (b,) = read_all(path, text_field="title")
    assert (b.rows, b.ids, b.texts) == ([1, 2, 3], ["x1", "x2", "x3"], ['"Physics" and guns', 'Notch said "hi', '""'])


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pl.DataFrame({"id": [570306133677760513, 2, 3], "text": ["a b", "c", ""], "n": [1, None, 3]}).write_parquet(path)
    (b,) = read_all(path, meta_fields=["n"])
    assert b.rows == [1, 2, 3]
    assert b.ids == ["570306133677760513", "2", "3"]
    assert b.texts == ["a b", "c", ""]
    assert b.meta == {"n": ["1", None, "3"]}
    assert b.nbytes == path.stat().st_size


def test_parquet_many_slices(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    n = 5000
    pl.DataFrame({"text": [f"doc {i}" for i in range(n)]}).write_parquet(path, row_group_size=700)
    batches = read_all(path, batch_size=64)
    assert [r for b in batches for r in b.rows] == list(range(1, n + 1))
    assert [t for b in batches for t in b.texts] == [f"doc {i}" for i in range(n)]
    assert all(b.id_fallback for b in batches)
    assert sum(b.nbytes for b in batches) == path.stat().st_size


def test_text_file_and_folder(tmp_path: Path) -> None:
    write(tmp_path / "docs" / "b.md", "# Title\n\nbody\n")
    write(tmp_path / "docs" / "sub" / "a.txt", "\ufeffnested ünïcode")
    write(tmp_path / "docs" / "c.txt.gz", gzip.compress(b"zipped"))
    batches = read_all(tmp_path / "docs")
    assert [(b.ids, b.rows, b.texts) for b in batches] == [
        (["c.txt.gz"], [1], ["zipped"]),
        (["sub/a.txt"], [1], ["nested ünïcode"]),
    ]
    (b,) = read_all(tmp_path / "docs" / "sub" / "a.txt", id_field=None)
    assert b.ids == ["a.txt"]


def test_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "posts.txt", "first post\r\n\n  \nsecond post\nlast, no newline")
    (b,) = read_all(path, "lines", meta_fields=["x"])
    assert b.rows == [1, 4, 5]
    assert b.ids == [f"{path}:1", f"{path}:4", f"{path}:5"]
    assert b.texts == ["first post", "second post", "last, no newline"]
    assert b.meta == {"x": [None, None, None]}
    assert b.id_fallback


def test_format_override(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.log", jsonl_bytes(DOCS))
    assert expand_inputs([path], "jsonl") == [InputFile(path, "jsonl", None)]
    assert read_all(path, "jsonl")[0].ids == ["1", "2", "3"]
    gz = write(tmp_path / "dump.gz", gzip.compress(b"x\ny\n"))
    assert expand_inputs([gz], "lines") == [InputFile(gz, "lines", "gzip")]
    assert read_all(gz, "lines")[0].texts == ["x", "y"]
    as_lines = read_all(write(tmp_path / "a.jsonl", jsonl_bytes(DOCS)), "lines")
    assert len(as_lines[0].texts) == 3 and as_lines[0].texts[0].startswith("{")


def test_bad_format_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown format 'xml'.*jsonl, csv"):
        expand_inputs([tmp_path], "xml")


# ------------------------------------------------------------------ expansion


def test_directory_expansion(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    for name in ["b.jsonl", "a/z.jsonl.gz", "a/y.csv", "c.parquet", ".hidden.jsonl",
                 ".git/x.jsonl", "notes.xyz", "README"]:
        write(root / name, b"")
    files = expand_inputs([root])
    assert [f.path.relative_to(root).as_posix() for f in files] == ["a/y.csv", "a/z.jsonl.gz", "b.jsonl", "c.parquet"]
    assert [f.format for f in files] == ["csv", "jsonl", "jsonl", "parquet"]
    assert all(f.root == root for f in files)
    assert total_bytes(files) == 0
    assert describe(files) == "4 files (1 csv, 1 jsonl.gz, 1 jsonl, 1 parquet), 0 B"
    with_fmt = expand_inputs([root], "lines")  # every file, but the README (a documentation file, left out)
    assert [f.path.name for f in with_fmt] == ["y.csv", "z.jsonl.gz", "b.jsonl", "c.parquet", "notes.xyz"]
    everything = expand_inputs([root], "lines", selection=Selection(include=("*",)))
    assert [f.path.name for f in everything] == ["README", "y.csv", "z.jsonl.gz", "b.jsonl", "c.parquet", "notes.xyz"]


def test_describe(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl.gz", b"x" * 6000)
    b = write(tmp_path / "b.jsonl.gz", b"x" * 6000)
    c = write(tmp_path / "c.parquet", b"x" * 400)
    assert describe(expand_inputs([a, b, c])) == "3 files (2 jsonl.gz, 1 parquet), 12.4 KB"


# ------------------------------------------------------------------ ids and meta


def test_id_fallback_and_big_ints(tmp_path: Path) -> None:
    big = write(tmp_path / "big.jsonl", '{"id": 570306133677760513, "text": "x"}\n{"id": "s", "text": "y"}\n')
    assert read_all(big)[0].ids == ["570306133677760513", "s"]
    nofield = write(tmp_path / "n.jsonl", '{"text": "x"}\n\n{"text": "y", "id": 9}\n')
    (b,) = read_all(nofield)
    assert b.ids == [f"{nofield}:1", f"{nofield}:3"] and b.id_fallback
    (b,) = read_all(big, id_field=None)
    assert b.ids == [f"{big}:1", f"{big}:2"] and not b.id_fallback
    (b,) = read_all(big, id_field="tweet_id")
    assert b.id_fallback
    csv_path = write(tmp_path / "p.csv", "text\nhello\n")
    (b,) = read_all(csv_path)
    assert b.ids == [f"{csv_path}:1"] and b.id_fallback


def test_custom_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", jsonl_bytes([{"body": "hi", "tid": 5, "m": {"a": [1]}, "f": 1.5, "b": True}]))
    (b,) = read_all(path, text_field="body", id_field="tid", meta_fields=["m", "f", "b", "none"])
    assert b.ids == ["5"] and b.texts == ["hi"]
    assert b.meta == {"m": ['{"a": [1]}'], "f": ["1.5"], "b": ["true"], "none": [None]}


# ------------------------------------------------------------------ batching


def test_batching_by_count_and_bytes(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", jsonl_bytes([{"text": f"a{i}"} for i in range(7)]))
    b = write(tmp_path / "b.jsonl", jsonl_bytes([{"text": "x" * 100, "id": i} for i in range(5)]))
    batches = read_all([a, b], batch_size=3)
    assert [(Path(x.source).name, len(x.rows)) for x in batches] == [
        ("a.jsonl", 3), ("a.jsonl", 3), ("a.jsonl", 1), ("b.jsonl", 3), ("b.jsonl", 2)]
    assert [t for x in batches for t in x.texts] == [f"a{i}" for i in range(7)] + ["x" * 100] * 5
    assert sum(x.nbytes for x in batches) == total_bytes(expand_inputs([a, b]))
    by_bytes = read_all([a, b], max_batch_bytes=250)
    assert [len(x.rows) for x in by_bytes] == [7, 3, 2]
    assert all(len({x.source}) == 1 for x in by_bytes)
    assert records(by_bytes) == records(batches)


# ------------------------------------------------------------------ bad input


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.jsonl: no such file or directory"):
        expand_inputs([tmp_path / "nope.jsonl"])


def test_unknown_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "data.xyz", "x")
    with pytest.raises(InputError) as info:
        expand_inputs([path])
    assert str(info.value) == f"{path}: unknown format '.xyz' (use --format one of {', '.join(FORMATS)})"


def test_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write(tmp_path / "junk" / "a.xyz", "x")
    for d in ("empty", "junk"):
        with pytest.raises(InputError, match=f"{d}: no supported input files"):
            expand_inputs([tmp_path / d])


@pytest.mark.parametrize(
    ("content", "row", "needle"),
    [
        ('{"text": "a"}\n\n\n{"text": "b" "c"}\n', 4, "broken JSON (Expecting ',' delimiter: column 14)"),
        ('{"text": "a"}\n[1, 2]\n', 2, "expected a JSON object, got an array"),
        ('{"text": "a"}\n{"body": "b"}\n', 2, "record has no 'text' field"),
        ('{"text": null}\n', 1, "'text' is null"),
        ('{"text": "a"}\n{"text": 12}\n', 2, "'text' is a number, not a string"),
        ('{"text": "a", "id": 1}\n{"text": "b", "id": 2}\n{"text": "c"}\n', 3, "record has no 'id' value"),
        ('{"text": "a", "id": [1]}\n', 1, "'id' is an array"),
    ],
)
def test_bad_jsonl(tmp_path: Path, content: str, row: int, needle: str) -> None:
    path = write(tmp_path / "corpus.jsonl", content)
    message = input_error(path)
    assert message.startswith(f"{path}:{row}: ")
    assert needle in message


def test_non_utf8(tmp_path: Path) -> None:
    jsonl = write(tmp_path / "c.jsonl", b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    assert input_error(jsonl) == f"{jsonl}:2: not valid UTF-8 at byte offset 13 of the line"
    lines = write(tmp_path / "l.txt", b"ok\n\nbad \xff\n")
    assert input_error(lines, "lines").startswith(f"{lines}:3: not valid UTF-8")
    csv_path = write(tmp_path / "p.csv", b"text\nok\n\xff\n")
    assert input_error(csv_path).startswith(f"{csv_path}:2 (line 3): not valid UTF-8")
    text = write(tmp_path / "d.txt", b"abc\xffdef")
    assert input_error(text) == f"{text}: not valid UTF-8 at byte offset 3"


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_truncated_stream(tmp_path: Path, kind: str) -> None:
    data = jsonl_bytes([{"text": f"document number {i} " + "x" * (i % 50)} for i in range(20000)])
    packed = gzip.compress(data) if kind == "gzip" else zstandard.ZstdCompressor().compress(data)
    path = write(tmp_path / ("c.jsonl.gz" if kind == "gzip" else "c.jsonl.zst"), packed[: len(packed) * 2 // 3])
    message = input_error(path)
    assert message.startswith(f"{path}:")
    assert message.endswith(f": truncated or corrupt {kind} stream")
    line = int(message[len(str(path)) + 1 :].split(":")[0])
    assert 1 < line < 20000


def test_corrupt_gzip_header(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl.gz", b"this is not gzip at all")
    assert input_error(path) == f"{path}: not gzip data, although its name ends in .gz (rename the file)"


@pytest.mark.parametrize(
    ("name", "content"),
    [("e.jsonl", ""), ("blank.jsonl", "\n  \n\n"), ("h.csv", "id,text\n"), ("e.csv", ""),
     ("e.txt", ""), ("e.jsonl.gz", gzip.compress(b"\n", mtime=0))],  # (mtime 0: the same test id in every xdist worker),
)
def test_no_records(tmp_path: Path, name: str, content: str | bytes) -> None:
    path = write(tmp_path / name, content)
    assert input_error(path) == f"{path}: no records"


def test_bad_csv(tmp_path: Path) -> None:
    ragged = write(tmp_path / "r.csv", 'id,text\n1,"a\nb"\n2,b,extra\n')
    assert input_error(ragged) == f"{ragged}:2: row has 3 fields, the header has 2"
    posts = write(tmp_path / "posts.csv", "id,body\n1,x\n")
    assert input_error(posts) == f"{posts}: no column 'text' (columns: id, body)"
    meta = write(tmp_path / "m.csv", "id,text\n1,x\n")
    assert input_error(meta, meta_fields=["author"]) == f"{meta}: no column 'author' (columns: id, text)"
    unclosed = write(tmp_path / "u.csv", 'id,text\n1,ok\n2,"never closed\n3,x\n')
    assert input_error(unclosed).startswith(f"{unclosed}:2 (line 4): malformed CSV")
    empty_id = write(tmp_path / "i.csv", "id,text\n1,x\n,y\n")
    assert input_error(empty_id).startswith(f"{empty_id}:2: record has no 'id' value")


def test_bad_parquet(tmp_path: Path) -> None:
    no_text = tmp_path / "a.parquet"
    pl.DataFrame({"id": [1], "body": ["x"]}).write_parquet(no_text)
    assert input_error(no_text) == f"{no_text}: no column 'text' (columns: id, body)"
    int_text = tmp_path / "b.parquet"
    pl.DataFrame({"text": [1, 2]}).write_parquet(int_text)
    assert input_error(int_text) == f"{int_text}: column 'text' is Int64, not a string type"
    null_text = tmp_path / "c.parquet"
    pl.DataFrame({"text": ["a", None]}).write_parquet(null_text)
    assert input_error(null_text) == f"{null_text}:2: 'text' is null"
    garbage = write(tmp_path / "d.parquet", b"PAR1 not really PAR1")
    assert input_error(garbage).startswith(f"{garbage}: not a readable parquet file")
    empty = tmp_path / "e.parquet"
    pl.DataFrame({"text": []}, schema={"text": pl.String}).write_parquet(empty)
    assert input_error(empty) == f"{empty}: no records"


def test_compressed_parquet_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "a.parquet.gz", b"x")
    with pytest.raises(InputError, match="a.parquet.gz: parquet files cannot be"):
        expand_inputs([path])


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can read any file")
    path = write(tmp_path / "secret.jsonl", '{"text": "x"}\n')
    path.chmod(0)
    try:
        assert input_error(path) == f"{path}: permission denied"
    finally:
        path.chmod(0o644)


def test_permission_denied_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root-independent check of the same path: open() refusing the file."""
    from provenance.io import sources

    path = write(tmp_path / "secret.jsonl", '{"text": "x"}\n')

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(sources, "open", refuse, raising=False)
    assert input_error(path) == f"{path}: permission denied"


# ------------------------------------------------------------------ records too long, decompression bombs


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("fmt", ["jsonl", "lines", "csv"])
@pytest.mark.parametrize("suffix", ["", ".gz", ".zst"])
def test_long_line_skipped_keeps_numbering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool, fmt: str,
                                           suffix: str) -> None:
    """A line longer than max_record_bytes is skipped (counted as record_too_long); the lines after it keep
    their numbers, whether it falls inside the reader's buffer or runs past it, on both reading paths."""
    from provenance.errors import Skipped
    from provenance.io import records as records_module

    monkeypatch.setattr(records_module, "FAST", fast)
    texts = ["short one", "x" * 5000, "two", "y" * (3 << 20), "three"]
    if fmt == "jsonl":
        data = jsonl_bytes([{"text": t} for t in texts])
    elif fmt == "csv":
        data = ("text\n" + "".join(f"{t}\n" for t in texts)).encode()
    else:
        data = "".join(f"{t}\n" for t in texts).encode()
    pack = {"": lambda b: b, ".gz": gzip.compress, ".zst": zstandard.ZstdCompressor().compress}[suffix]
    path = write(tmp_path / f"c.{'txt' if fmt == 'lines' else fmt}{suffix}", pack(data))
    skipped = Skipped()
    got = records(read_all(path, fmt if fmt == "lines" else None, id_field=None, skipped=skipped, max_record_bytes=1000))
    assert [(row, text) for _, row, _, text in got] == [(1, "short one"), (3, "two"), (5, "three")]  # (csv: data rows)
    assert skipped.counts == {"record_too_long": 2}
    where = f"{path}:2 (line 3): " if fmt == "csv" else f"{path}:2: "
    assert skipped.first["record_too_long"].startswith(where + "line longer than 1,000 bytes")
    # stopping: the first long line is the one error
    assert input_error(path, fmt if fmt == "lines" else None, max_record_bytes=1000).startswith(where)


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_decompression_bomb_read_within_a_fixed_budget(tmp_path: Path, suffix: str) -> None:
    """128 MiB of zero bytes (a few hundred KB compressed) as one line: refused at max_record_bytes, having
    held no more than about that much (Python's allocations traced), both stopping and skipping. (A
    reader that held the line whole would hold 128 MiB, over three times the 40 MiB allowed.)"""
    import tracemalloc

    from provenance.errors import Skipped

    zeros = bytes(128 << 20)
    data = jsonl_bytes([{"text": "before"}]) + zeros + b"\n" + jsonl_bytes([{"text": "after"}])
    data = gzip.compress(data, 1) if suffix == ".gz" else zstandard.ZstdCompressor().compress(data)
    del zeros
    path = write(tmp_path / f"bomb.jsonl{suffix}", data)
    tracemalloc.start()
    try:
        message = input_error(path, max_record_bytes=1 << 20)
        skipped = Skipped()
        got = records(read_all(path, id_field=None, skipped=skipped, max_record_bytes=1 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message == (f"{path}:2: line longer than 1,048,576 bytes after decompression "
                       "(--max-record-bytes; raise it to read such records)")
    assert [(row, text) for _, row, _, text in got] == [(1, "before"), (3, "after")]
    assert skipped.counts == {"record_too_long": 1}
    assert peak < 40 << 20, peak  # (the line limit, zstd's 8 MiB at a time and its copies; whole: 128 MiB)


def test_text_file_longer_than_the_limit(tmp_path: Path) -> None:
    """A text document (the whole file) longer than max_record_bytes: an error naming the file; skipped, no record."""
    from provenance.errors import Skipped

    path = write(tmp_path / "big.txt", "word " * 1000)
    assert input_error(path, max_record_bytes=4000) == (f"{path}: file longer than 4,000 bytes "
                                                        "(--max-record-bytes; raise it to read such records)")
    skipped = Skipped()
    assert read_all(path, max_record_bytes=4000, skipped=skipped) == []
    assert skipped.counts == {"record_too_long": 1}
    assert records(read_all(path, max_record_bytes=5000))[0][3] == "word " * 1000


# ------------------------------------------------------------------ what a folder brings in (issue 26)


def _dataset(root: Path) -> Path:
    """A folder laid out as TweetEval's: texts, labels, a mapping, READMEs and a license."""
    write(root / "irony" / "train_text.txt", "first tweet here\nsecond tweet here\n")
    write(root / "irony" / "train_labels.txt", "1\n0\n")
    write(root / "irony" / "mapping.txt", "0\tnon_irony\n1\tirony\n")
    write(root / "README.md", "# the dataset\n")
    write(root / "README.txt", "the dataset\n")
    write(root / "LICENSE", "terms\n")
    return root


def test_a_folder_leaves_out_its_documentation_and_says_so(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    selection = Selection(exclude=("*labels*", "mapping.txt"))
    files = expand_inputs([root], "lines", selection=selection)
    assert [f.path.relative_to(root).as_posix() for f in files] == ["irony/train_text.txt"]
    note = selection.note()
    assert note is not None and "\n" not in note
    assert "3 documentation" in note and "README.md" in note and "LICENSE" in note
    # --include names a file the defaults leave out
    files = expand_inputs([root], "lines", selection=Selection(include=("README.md", "*_text.txt")))
    assert [f.path.name for f in files] == ["README.md", "train_text.txt"]


def test_label_like_files_are_refused_unless_included(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    for args in ([root], [root / "irony" / "train_text.txt", root / "irony" / "train_labels.txt"]):
        with pytest.raises(ParameterError) as info:
            expand_inputs(args, "lines")
        message = str(info.value)
        assert "\n" not in message and "labels" in message and "--include" in message
    assert "--exclude" in str(pytest.raises(ParameterError, expand_inputs, [root], "lines").value)
    included = expand_inputs([root], "lines", selection=Selection(include=("irony/*",)))
    assert [f.path.name for f in included] == ["mapping.txt", "train_labels.txt", "train_text.txt"]
    # without --format, the .txt files would each be one record: the same refusal
    with pytest.raises(ParameterError):
        expand_inputs([root])


def test_include_and_exclude_patterns(tmp_path: Path) -> None:
    for name in ["a/x.jsonl", "a/y.jsonl", "b/x.jsonl", "b/z.csv"]:
        write(tmp_path / "d" / name, b"")
    names = lambda sel: [f.path.relative_to(tmp_path / "d").as_posix()  # noqa: E731
                         for f in expand_inputs([tmp_path / "d"], selection=sel)]
    assert names(Selection(include=("x.jsonl",))) == ["a/x.jsonl", "b/x.jsonl"]  # a name pattern: any folder
    assert names(Selection(include=("a/*",))) == ["a/x.jsonl", "a/y.jsonl"]  # a path pattern: inside the folder
    assert names(Selection(exclude=("*.csv", "a/y.jsonl"))) == ["a/x.jsonl", "b/x.jsonl"]
    assert names(Selection(include=("*.jsonl",), exclude=("b/*",))) == ["a/x.jsonl", "a/y.jsonl"]
    with pytest.raises(ParameterError):
        Selection(include=("/abs/*",))


@pytest.mark.parametrize("compress", [gzip.compress, lambda b: zstandard.ZstdCompressor().compress(b)])
def test_compressed_files_of_unknown_format_are_sniffed(tmp_path: Path, compress) -> None:
    ext = ".gz" if compress is gzip.compress else ".zst"
    folder = tmp_path / "wiki"
    write(folder / f"wiki_00{ext}", compress(b'{"id": "3", "text": "a page"}\n'))
    write(folder / "README.md", "# wikinews\n")
    files = expand_inputs([folder])  # before: "no supported input files"
    assert [(f.path.name, f.format) for f in files] == [(f"wiki_00{ext}", "jsonl")]
    assert [b.texts for b in iter_batches(files)] == [["a page"]]
    assert expand_inputs([folder / f"wiki_00{ext}"])[0].format == "jsonl"
    plain = tmp_path / "toks"
    write(plain / f"a.toks{ext}", compress(b"one sentence\nanother one\n"))
    message = input_error([plain / f"a.toks{ext}"])
    assert "not JSON" in message and "--format" in message
    message = input_error([plain])
    assert f"a.toks{ext}" in message and "--format" in message


def test_file_row_ids_name_the_file_by_its_place_in_the_argument(tmp_path: Path) -> None:
    from provenance.io import named_for_ids

    for sub in ("irony", "hate"):
        write(tmp_path / "data" / sub / "train_text.txt", "one\ntwo\n")
    write(tmp_path / "data" / "posts.jsonl", '{"text": "no id here"}\n')
    write(tmp_path / "data" / "posts.csv", "text\nno id here\n")
    pl.DataFrame({"text": ["no id here"]}).write_parquet(tmp_path / "data" / "posts.parquet")
    folder = named_for_ids(expand_inputs([tmp_path / "data"], None, selection=Selection(include=("*.json*", "*.csv", "*.parquet"))))
    ids = [i for b in iter_batches(folder) for i in b.ids]
    assert ids == ["posts.csv:1", "posts.jsonl:1", "posts.parquet:1"]
    lines = named_for_ids(expand_inputs([tmp_path / "data"], "lines", selection=Selection(include=("*.txt",))))
    assert [i for b in iter_batches(lines) for i in b.ids] == ["hate/train_text.txt:1", "hate/train_text.txt:2",
                                                                "irony/train_text.txt:1", "irony/train_text.txt:2"]
    # files named themselves: their names, with as many folders as tell apart two of the same name
    two = [tmp_path / "data" / "irony" / "train_text.txt", tmp_path / "data" / "hate" / "train_text.txt"]
    assert [f.id_name for f in named_for_ids(expand_inputs(two, "lines"))] == ["irony/train_text.txt",
                                                                             "hate/train_text.txt"]
    one = named_for_ids(expand_inputs(two[:1], "lines"), "tweeteval/")
    assert [i for b in iter_batches(one) for i in b.ids] == ["tweeteval/train_text.txt:1", "tweeteval/train_text.txt:2"]
    # the data moved: the same ids
    moved = tmp_path / "elsewhere" / "deeper"
    shutil.copytree(tmp_path / "data", moved)
    again = named_for_ids(expand_inputs([moved], "lines", selection=Selection(include=("*.txt",))))
    assert [i for b in iter_batches(again) for i in b.ids] == [i for b in iter_batches(lines) for i in b.ids]
    # without names (a reader called directly), ids keep the path as given
    assert [i for b in iter_batches(expand_inputs(two[:1], "lines")) for i in b.ids][0] == f"{two[0]}:1"
