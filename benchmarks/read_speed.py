"""Time ``provenance.io.iter_batches`` alone on the speed corpus: JSONL, JSONL.gz, JSONL.zst and
parquet, the vectorized readers against the record-by-record path (``records.FAST = False``, the
path they fall back to), alternating in one process; wall and CPU seconds (all threads).

    python -m benchmarks.read_speed --work bench-work --mb 45 --rounds 5

Not a RESULTS.md section: a tool for work on the reader (the speed section times whole scans).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from pathlib import Path

from benchmarks import speed
from benchmarks.common import Context


def variants(corpus: Path) -> list[Path]:
    """The corpus as JSONL, gzip, zstd and parquet (written next to it once)."""
    import polars as pl
    import zstandard

    data = corpus.read_bytes()
    out = [corpus]
    for suffix, pack in ((".gz", lambda b: gzip.compress(b, 6)), (".zst", lambda b: zstandard.ZstdCompressor(level=3).compress(b))):
        path = corpus.with_name(corpus.name + suffix)
        if not path.exists() or path.stat().st_mtime < corpus.stat().st_mtime:
            path.write_bytes(pack(data))
        out.append(path)
    parquet = corpus.with_suffix(".parquet")
    if not parquet.exists() or parquet.stat().st_mtime < corpus.stat().st_mtime:
        pl.read_ndjson(corpus).write_parquet(parquet)
    return [*out, parquet]


def time_read(path: Path, fast: bool) -> tuple[float, float, int]:
    from provenance.io import expand_inputs, iter_batches, records

    records.FAST = fast
    try:
        files = expand_inputs([path])
        wall, cpu = time.perf_counter(), time.process_time()
        docs = sum(len(b.texts) for b in iter_batches(files))
        return time.perf_counter() - wall, time.process_time() - cpu, docs
    finally:
        records.FAST = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("bench-work"))
    parser.add_argument("--mb", type=float, default=45)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    _, corpus, _ = speed.prepare(Context(work=args.work), args.mb)
    print(f"{'file':24} {'MB':>6} {'docs':>7}   record by record: wall / cpu (median s)   vectorized: wall / cpu   speed-up")
    for path in variants(corpus):
        runs: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
        for r in range(args.rounds):
            for fast in ((False, True) if r % 2 == 0 else (True, False)):
                runs[fast].append(time_read(path, fast))
        med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in runs.items()}
        print(f"{path.name:24} {path.stat().st_size / 1e6:6.1f} {runs[True][0][2]:7,}   "
              f"{med[False][0]:6.3f} / {med[False][1]:6.3f}{'':21}{med[True][0]:6.3f} / {med[True][1]:6.3f}   "
              f"{med[False][0] / med[True][0]:.2f}x wall, {med[False][1] / med[True][1]:.2f}x cpu")


if __name__ == "__main__":
    main()
