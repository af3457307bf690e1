"""Read corpus and post files as batches of ``(row, id, text, meta)`` records.

Formats (from the extension after stripping ``.gz``/``.zst``, or forced with ``fmt``):

* ``jsonl`` (``.jsonl``, ``.ndjson``, ``.json``): one JSON object per line; blank lines
  are skipped but still counted.
* ``csv`` / ``tsv``: a header row, then one record per row; quoted fields may span lines.
* ``parquet`` (``.parquet``, ``.pq``): read in row slices with polars; never compressed
  externally.
* ``text`` (``.txt``): the whole file is one document (``--format text`` for other extensions;
  ``.md`` is not picked up by default so a dataset folder's README is not read as a document).
* ``lines``: one document per non-blank line (only via ``fmt``).

Row numbers are 1-based: the physical line for jsonl and lines, the data row (header and
blank rows excluded) for csv/tsv, the row index + 1 for parquet, and 1 for text.

Ids: with ``id_field=None`` every record's id is ``"{source}:{row}"``. Otherwise the first
record (jsonl) or the header/schema (csv, tsv, parquet) decides: if it has the field, every
record must carry a non-null value, converted to ``str`` (JSON integers keep their exact
decimal form); if not, the whole file falls back to ``source:row`` ids and its batches say
``id_fallback=True`` (as do ``lines`` files, which have no fields). A ``text`` document's
id is its path relative to the directory argument it was found in, or its file name.

Errors: everything a user can cause raises :class:`~provenance.errors.InputError` with a one-line message
that starts with the file and, where there is one, the row (``corpus.jsonl:17: ...``).
CSV/TSV read errors add the physical line (``posts.csv:5 (line 9): ...``); a truncated or
corrupt ``.gz``/``.zst`` names the line after the last good one; byte offsets in encoding
errors are 0-based. Input must be UTF-8 (a leading BOM is skipped). Compressed input is
streamed and parquet read in row slices, so memory stays bounded: a line (a ``text`` document, a
CSV field) longer than ``max_record_bytes`` after decompression (default
:data:`provenance.params.MAX_RECORD_BYTES`, 16 MiB) is refused before it is held whole (a bad record,
``record_too_long``), which also stops a decompression bomb; parquet values are not limited. A file
with no records is an error.

URLs: an argument containing ``://`` is an fsspec URL (``file://``, ``memory://``, ``s3://``,
``https://``, ...; see :class:`~provenance.io.urls.URL`). It names a file, or a folder when the file system says it is
one or the URL ends in ``/``, and may be a glob pattern (not for http). Errors name the URL as
given. Remote files are read sequentially in large requests (:data:`~provenance.io.urls.READ_BLOCK`); a parquet file
from a URL is loaded whole into memory. A remote read that ends short of the file's size, or an http
body cut short of its Content-Length or chunked framing, is an error; a plain (uncompressed, not
parquet) http file sent without either is refused, as its end could not be told from a cut. http reads
wait at most :func:`~provenance.io.urls.read_timeout` seconds for the next bytes, with no total limit.

While a file is read, its on-disk (compressed) bytes are hashed: :func:`~provenance.io.tap.take_sha256` hands the
sha256 of a complete read to the checkpoint, which so need not read the file a second time.

Speed: JSONL is parsed a chunk of lines (:data:`~provenance.io.streams.CHUNK_BYTES`) at a time with
orjson and its fields taken by column; parquet slices are taken by column. Whenever a chunk or slice holds anything
unusual (a bad record, a value orjson might decode otherwise than the json module), it goes record
by record, the path that defines the results: batches, errors and skips are the same either way.

The modules, in the order the data goes through them:

* :mod:`.urls`: :class:`URL`, the fsspec file system behind it, errors for what backends raise.
* :mod:`.batch`: the types handed on: :class:`InputFile` (with its :class:`Part`), :class:`Batch`.
* :mod:`.sources`: arguments to input files (:func:`expand_inputs`), formats and compressions, sizes,
  :func:`describe`, opening a file's raw bytes.
* :mod:`.units`: large files cut into parts (:func:`split_units`).
* :mod:`.tap`: the sha256 of the on-disk bytes as they are read (:func:`take_sha256`, :func:`file_sha256`).
* :mod:`.streams`: decompressed bytes as numbered lines or chunks of lines (``Source``).
* :mod:`.records`: what the readers share: options, per-file state, records by column, value rules.
* :mod:`.jsonl`, :mod:`.delimited` (csv, tsv), :mod:`.parquet`, :mod:`.text` (text, lines): one
  reader per format.
* :mod:`.batching`: :func:`iter_batches`, each file's records cut into batches; :func:`read_batches`,
  with the id checks of scans and index builds.
"""

from .batch import Batch, InputFile, Part
from .batching import iter_batches, read_batches
from .names import chosen_posts, named_for_ids
from .select import Selection
from .sources import FORMATS, describe, expand_inputs, file_size, input_bytes, total_bytes
from .tap import file_sha256, take_sha256
from .units import SPLITTABLE, split_units
from .urls import URL, URLStat, is_url

__all__ = [
    "FORMATS", "SPLITTABLE", "URL", "Batch", "InputFile", "Part", "Selection", "URLStat", "chosen_posts", "describe",
    "expand_inputs", "file_sha256", "file_size", "input_bytes", "is_url", "iter_batches", "named_for_ids", "read_batches",
    "split_units", "take_sha256", "total_bytes",
]
