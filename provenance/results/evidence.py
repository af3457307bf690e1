"""Evidence a third party can check, and ``provenance verify``.

A scan with an output directory writes ``evidence.json`` beside ``matches.parquet`` and
``summary.json``: the tool version, the scan parameters and fields, the index's path, its manifest
(copied whole) and the manifest's sha256, every input unit (a file, or a part of one) with its size
and the sha256 of its bytes, and the sha256 of the two result files. Each match row carries the
matched text of the document (``doc_text``), so a reader sees the evidence without the corpus.

:func:`verify` checks all of it again: the result files against their sha256, the index against
the manifest sha256 (and its files against the manifest), every input unit against its sha256, and
every matched document, scanned again with the recorded parameters, against its match rows
(offsets, matched text, containment, coverage and the rest), and summary.json against the rows
(:mod:`.consistency`). Each difference is a :class:`Problem` of one line.

*Seals.* evidence.json always carries ``self_sha256``, the sha256 of its own canonical JSON: it finds
a damaged file, but anyone who edits the results can compute it again. A scan given a key
(``--key-file`` of a keyed index, or ``--seal-key-file``) also writes ``keyed_seal``: an HMAC-SHA256
of the rest of the file under a subkey of that key (:func:`provenance.keys.seal_mac`). Since the
evidence pins the sha256 of matches.parquet, summary.json and every input, only a holder of the key
can make a seal that verifies over altered results; :func:`verify` given the key checks it (and
refuses evidence without one).

*What verify reads.* An output directory may come from someone else: its evidence.json names the
inputs to hash and scan again. :func:`verify` reads only local files under the directories (or
files) the caller names (``inputs``; by default the current directory), and no URL unless
``allow_remote``: any other input named is refused (a one-line error) before anything is read.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..version import __version__
from ..errors import ProvenanceError, skipping
from ..index import Index, open_index
import hmac

from ..keys import SEAL_SCHEME, Key, as_key, seal_mac, short
from ..params import ScanParams, doc_fields
from ..io import URL, InputFile, Part, file_sha256, iter_batches
from ..durable import canonical_json, sha256_of, unseal, write_sealed
from .consistency import summary_differences
from .outputs import MATCH_SCHEMA, ROW_SCHEMA
from .significance import with_post_facts

__all__ = ["EVIDENCE", "Problem", "Verification", "check_results", "repin_results", "unit_record", "verify", "write_evidence"]

EVIDENCE = "evidence.json"
FORMAT = "provenance-evidence"
FORMAT_VERSION = 4  # 3: keyed_seal (optional); 4: each input records the id_name of its FILE:ROW ids
READS = (2, 3, 4)  # (before 4, FILE:ROW ids spell the path as given: id_name None)
KEYED_SEAL = "keyed_seal"
RESULTS = ("matches.parquet", "summary.json", "run.json")
# What a new scan of a matched document must reproduce of each of its match rows.
COMPARED = ("doc_id", "post_id", "source", "row", "doc_start", "doc_end", "method", "containment", "coverage",
            "jaccard", "placement", "span_tokens", "matched_shingles", "post_shingles", "doc_text", "context_before",
            "context_after", "doc_meta", "doc_chars", "evidence_bits", "shared_posts", "span_texts", "doc_date",
            "post_date", "post_quoted", "post_quote_only")  # (whether a match counts is judged over the whole scan: checked by re-judging the file)


def unit_record(unit: InputFile, sha256: str | None) -> dict[str, Any]:
    """What the evidence keeps of one input unit; ``path`` is spelled as the matches' ``source``."""
    url = isinstance(unit.path, URL)
    part = unit.part
    return {"path": str(unit.path), "resolved": str(unit.path) if url else str(Path(unit.path).resolve()),
            "url": url, "format": unit.format, "compression": unit.compression, "sha256": sha256, "id_name": unit.id_name,
            "part": None if part is None else {"start": part.start, "stop": part.stop, "nbytes": part.nbytes,
                                               "lines": part.lines, "ids": part.ids}}


def write_evidence(out: Path, index: Index, params: ScanParams, fields: dict[str, Any],
                   units: list[dict[str, Any]], seal_key: Key | None = None) -> Path:
    """Write ``out/evidence.json``, after the result files (it pins their sha256); with ``seal_key``,
    sealed with it too (see the module docstring)."""
    evidence = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": params.to_dict(),
        "fields": fields,
        "index": {"path": str(Path(index.path).resolve()), "manifest_sha256": index.checksum,
                  "manifest": {k: v for k, v in index.manifest.items() if k != "manifest_sha256"}},
        "inputs": units,
        "results": {name: sha256_of(out / name) for name in RESULTS},
    }
    write_sealed(out / EVIDENCE, _keyed(evidence, seal_key))
    return out / EVIDENCE


def _keyed(evidence: dict[str, Any], key: Key | None) -> dict[str, Any]:
    """``evidence`` with its keyed seal made with ``key`` (without one when ``key`` is None)."""
    body = {k: v for k, v in evidence.items() if k != KEYED_SEAL}
    if key is None:
        return body
    return {**body, KEYED_SEAL: {"scheme": SEAL_SCHEME, "key_fingerprint": key.fingerprint,
                                 "hmac_sha256": seal_mac(key.secret, canonical_json(body))}}


def repin_results(out: Path, seal_key: Key | None = None) -> None:
    """Record the result files' sha256 again in ``out/evidence.json`` (after summary.json was
    rewritten by the scan that wrote the evidence), sealed with ``seal_key`` again."""
    ev = _load(out)
    ev["results"] = {name: sha256_of(out / name) for name in RESULTS}
    write_sealed(out / EVIDENCE, _keyed(ev, seal_key))


def check_seal(evidence: dict[str, Any], key: Key | None, path: Path | str = EVIDENCE) -> tuple[str, list["Problem"]]:
    """How ``evidence`` is sealed (``keyed``, ``keyed, not checked`` without ``key``, or ``unkeyed``)
    and the problems found with ``key``: no keyed seal, another key's, or one that does not match."""
    seal = evidence.get(KEYED_SEAL)
    if seal is not None and not (isinstance(seal, dict) and isinstance(seal.get("hmac_sha256"), str)
                                 and isinstance(seal.get("key_fingerprint"), str)):
        return "damaged", [Problem("seal", f"{path}: damaged keyed seal")]
    if key is None:
        return ("keyed, not checked (no key given)" if seal else "unkeyed"), []
    if seal is None:
        return "unkeyed", [Problem("seal", f"{path}: no keyed seal (the scan was not sealed with a key, or the seal was "
                                           f"removed); the key given ({key.source}) cannot vouch for these results")]
    if seal["key_fingerprint"] != key.fingerprint:
        return "keyed", [Problem("seal", f"{path}: sealed with another key (fingerprint {short(seal['key_fingerprint'])}, "
                                         f"the key given {short(key.fingerprint)})")]
    body = {k: v for k, v in evidence.items() if k != KEYED_SEAL}
    if not hmac.compare_digest(seal_mac(key.secret, canonical_json(body)), seal["hmac_sha256"]):
        return "keyed", [Problem("seal", f"{path}: its keyed seal does not match its content (altered after the scan)")]
    return "keyed", []


@dataclass(frozen=True)
class Problem:
    """One difference between the evidence and what is there now: ``what`` is ``results``,
    ``index``, ``input`` or ``match``."""

    what: str
    message: str
    """``what`` is also ``seal`` (the keyed seal) or ``summary`` (summary.json against matches.parquet)."""


@dataclass
class Verification:
    """What :func:`verify` checked, and the differences it found."""

    matches: int = 0
    inputs: int = 0
    documents: int = 0
    index: str = ""
    seal: str = ""
    """``keyed`` (checked with the key given), ``keyed, not checked (no key given)`` or ``unkeyed``."""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _load(out: Path) -> dict[str, Any]:
    path = out / EVIDENCE
    if not path.is_file():
        raise ProvenanceError(f"{out}: no {EVIDENCE} (not the output directory of a scan)")
    raw = path.read_bytes()
    try:
        head = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        head = None
    if isinstance(head, dict) and head.get("format") == FORMAT and head.get("format_version") not in READS:
        raise ProvenanceError(f"{path}: evidence format version {head.get('format_version')}, this provenance reads "
                              f"version {FORMAT_VERSION} (scan again)")
    ev = unseal(raw, path, "evidence")  # any changed byte: DamagedFile
    if ev.get("format") != FORMAT:
        raise ProvenanceError(f"{path}: not a provenance evidence file")
    _check_shape(ev, path)
    return ev


def _check_shape(ev: dict[str, Any], path: Path) -> None:
    """The types of what verify reads from the evidence (it may come from anyone): one line if wrong."""
    def bad(what: str) -> ProvenanceError:
        return ProvenanceError(f"{path}: {what} (not the evidence file of a scan)")

    if not isinstance(ev.get("inputs"), list) or not isinstance(ev.get("results"), dict) \
            or not isinstance(ev.get("params"), dict) or not isinstance(ev.get("fields"), dict) \
            or not isinstance(ev["fields"].get("text"), str) or not isinstance(ev["fields"].get("id"), (str, type(None))):
        raise bad("inputs, results, params or fields missing")
    try:
        ScanParams.from_dict(ev["params"])
    except ProvenanceError as e:
        raise ProvenanceError(f"{path}: bad scan parameters ({e})") from None
    index = ev.get("index")
    if not (isinstance(index, dict) and isinstance(index.get("path"), str) and isinstance(index.get("manifest_sha256"), str)):
        raise bad("index missing")
    if not all(isinstance(n, str) and n in RESULTS and isinstance(d, str) for n, d in ev["results"].items()):
        raise bad("results holds another file than the scan's")
    for i, rec in enumerate(ev["inputs"]):
        if not (isinstance(rec, dict) and isinstance(rec.get("path"), str) and isinstance(rec.get("resolved"), str)
                and isinstance(rec.get("url"), bool) and isinstance(rec.get("sha256"), (str, type(None)))
                and isinstance(rec.get("format"), str) and isinstance(rec.get("compression"), (str, type(None)))
                and (rec.get("part") is None or _is_part(rec["part"]))
                and isinstance(rec.get("id_name"), (str, type(None)))):
            raise bad(f"input {i} malformed")


def _is_part(p: Any) -> bool:
    return isinstance(p, dict) and all(isinstance(p.get(k), int) and not isinstance(p.get(k), bool)
                                       for k in ("start", "stop", "nbytes", "lines")) and "ids" in p


def check_results(out_dir: str | Path, evidence: dict[str, Any] | None = None) -> list[Problem]:
    """The result files of a scan against the sha256 its evidence (loaded here unless given) recorded
    (cheap: no rescan). Raises ProvenanceError when the evidence itself is missing or damaged."""
    out = Path(out_dir)
    problems = []
    for name, digest in (evidence or _load(out))["results"].items():
        f = out / name
        if not f.is_file():
            problems.append(Problem("results", f"{f}: missing"))
        elif sha256_of(f) != digest:
            problems.append(Problem("results", f"{f}: changed since the scan (sha256 differs from {EVIDENCE})"))
    return problems


def _remote(record: dict[str, Any]) -> bool:
    return record["url"] or "://" in record["path"] or "://" in record["resolved"]


def _readable_units(ev: dict[str, Any], path: Path, inputs: list[Path], allow_remote: bool) -> list[InputFile | None]:
    """The unit of each input record that verify may read (None: nothing to read, it was skipped),
    checked before any is read: a URL without ``allow_remote``, or a local file outside ``inputs``, is
    a ProvenanceError."""
    roots = [p.resolve() for p in inputs]
    units: list[InputFile | None] = []
    for rec in ev["inputs"]:
        if rec["sha256"] is None:  # unreadable when scanned, and skipped (--on-error skip): nothing to read
            units.append(None)
            continue
        if _remote(rec):
            if not allow_remote:
                raise ProvenanceError(f"{path}: names the remote input {rec['path']}; verify reads no URL unless "
                                      "--allow-remote")
            units.append(_unit_of(rec))
            continue
        unit = _unit_of(rec)
        where = Path(unit.path).resolve()
        if not any(where == root or root in where.parents for root in roots):
            named = ", ".join(map(str, inputs))
            said = rec["path"] if str(unit.path) == rec["path"] else f"{rec['path']} ({unit.path})"
            raise ProvenanceError(f"{path}: names the input {said}, outside what verify may read ({named}); "
                                  "name its folder with --inputs to check it")
        units.append(unit)
    return units


def _unit_of(record: dict[str, Any]) -> InputFile:
    """The unit at its path as given, when that still names the same file (so that sources read as in
    the scan), else at its resolved path; its FILE:ROW ids name it as the scan did."""
    if record["url"]:
        path: Path | URL = URL(record["path"])
    else:
        given = Path(record["path"])
        same = given.exists() and str(given.resolve()) == record["resolved"]
        path = given if same else Path(record["resolved"])
    p = record.get("part")
    part = None if p is None else Part(p["start"], p["stop"], p["nbytes"], p["lines"], p["ids"])
    return InputFile(path, record["format"], record["compression"], part=part, id_name=record.get("id_name"))


def verify(out_dir: str | Path, index_path: str | Path | None = None, *, listed: int = 20,
           key: Key | bytes | None = None, seal_key: Key | bytes | None = None,
           inputs: "list[str | Path] | None" = None, allow_remote: bool = False) -> Verification:
    """Check a scan's output directory against its evidence (see the module docstring). Raises
    ProvenanceError when there is no evidence to check, or the index cannot be opened; ``key`` is the
    secret key of a keyed index (the matched documents are hashed again), and a keyed index without
    it, or with another key, is a SecretKeyError before anything is checked.

    ``seal_key`` (default: ``key``) checks the evidence's keyed seal: evidence without one, or sealed
    with another key, or altered since, is a problem. ``inputs`` are the folders (or files) whose
    files verify may read (default: the current directory); an input the evidence names elsewhere,
    or a URL without ``allow_remote``, is a ProvenanceError before any input is read."""
    out = Path(out_dir)
    ev = _load(out)
    units_to_read = _readable_units(ev, out / EVIDENCE, [Path(p) for p in (inputs or [Path.cwd()])], allow_remote)
    index = open_index(index_path or ev["index"]["path"], key=key, verify=False)
    index.require_key()
    report = Verification()
    report.seal, problems = check_seal(ev, as_key(seal_key) or as_key(key), out / EVIDENCE)
    report.problems.extend(problems)
    report.problems.extend(check_results(out, ev))
    index = open_index(index.path, key=index.key)  # every file against the manifest
    report.index = str(index.path)
    if index.checksum != ev["index"]["manifest_sha256"]:
        report.problems.append(Problem("index", f"{index.path}: not the index of the scan (manifest sha256 "
                                                f"{index.checksum[:12]}, evidence {ev['index']['manifest_sha256'][:12]})"))
        return report  # the matches cannot be checked against another index
    units, changed, hashed = [], set(), {}
    for rec, unit in zip(ev["inputs"], units_to_read):
        report.inputs += 1
        if unit is None:  # unreadable when scanned, and skipped (--on-error skip): nothing of it to check
            continue
        try:
            digest = file_sha256(unit, hashed)
        except ProvenanceError as e:
            report.problems.append(Problem("input", str(e)))
            changed.add(rec["path"])
            continue
        if digest != rec["sha256"]:
            report.problems.append(Problem("input", f"{unit.unit}: content differs from the scan (sha256 "
                                                    f"{digest[:12]}, evidence {rec['sha256'][:12]})"))
            changed.add(rec["path"])
        else:
            units.append((unit, rec))
    try:
        matches = pl.read_parquet(out / "matches.parquet")
    except (OSError, pl.exceptions.PolarsError) as e:
        report.problems.append(Problem("results", f"{out / 'matches.parquet'}: unreadable ({str(e).splitlines()[0]})"))
        return report
    wrong = [c for c, t in MATCH_SCHEMA.items() if matches.schema.get(c) != t]
    if wrong:
        report.problems.append(Problem("results", f"{out / 'matches.parquet'}: not the columns of a scan's matches "
                                                  f"({', '.join(wrong[:5])} missing or of another type)"))
        return report
    report.matches = matches.height
    try:
        summary = json.loads((out / "summary.json").read_bytes())
    except (OSError, ValueError) as e:
        report.problems.append(Problem("results", f"{out / 'summary.json'}: unreadable ({str(e).splitlines()[0]})"))
    else:
        report.problems += [Problem("summary", m) for m in summary_differences(summary, matches, ev, index, COMPARED, listed)]
    checked = matches.filter(~pl.col("source").is_in(sorted(changed)))
    found = _rescan(index, ScanParams.from_dict(ev["params"]), ev["fields"], units, checked)
    report.documents = checked.select("source", "row").unique().height
    _compare(checked, found, report, listed)
    _rejudge(out, matches, ScanParams.from_dict(ev["params"]), index.n_posts, report)
    return report


def _rejudge(out: Path, matches: pl.DataFrame, params: ScanParams, posts: int, report: Verification) -> None:
    """Whether each match counts follows from the whole file and the scan's size (summary.json): judge
    the rows again and compare (a row whose verdict was edited, or added or removed rows that change
    another post's document count, differ)."""
    from .significance import JUDGED, judge

    try:
        words = int(json.loads((out / "summary.json").read_text(encoding="utf-8"))["words_scanned"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        report.problems.append(Problem("results", f"{out / 'summary.json'}: no words_scanned to judge the matches by ({e})"))
        return
    if not set(JUDGED) <= set(matches.columns):
        report.problems.append(Problem("results", f"{out / 'matches.parquet'}: lacks the columns {', '.join(JUDGED)}"))
        return
    again = judge(matches.drop(JUDGED), params, posts, words)
    differ = matches.select(JUDGED).with_row_index("_i").join(again.select(JUDGED).with_row_index("_i"), on=["_i", *JUDGED],
                                                              how="anti", nulls_equal=True)
    if differ.height:
        report.problems.append(Problem("counting", f"{differ.height:,} match rows are not judged (counted or not, "
                                                   "E-value, documents) as the scan's rules judge them"))


def _rescan(index: Index, params: ScanParams, fields: dict[str, Any], units: list[tuple[InputFile, dict[str, Any]]],
            matches: pl.DataFrame) -> pl.DataFrame:
    """The match rows that a new scan finds in the documents of ``matches``."""
    from ..scanner.pipeline import Scanner  # the scan's own, a batch at a time

    wanted: dict[str, set[int]] = {}
    for source, row in matches.select("source", "row").unique().iter_rows():
        wanted.setdefault(source, set()).add(row)
    scanner = Scanner(index, params)
    rows: list[dict[str, Any]] = []
    renamed: dict[str, str] = {}  # source read now -> source at scan time
    for unit, rec in units:
        now = str(unit.path)
        renamed[now] = rec["path"]
        rows_wanted = wanted.get(rec["path"], set())
        if not rows_wanted:
            continue
        for batch in iter_batches([unit], text_field=fields["text"], id_field=fields.get("id") or "id",
                                  batch_size=params.batch_size, skipped=skipping(params.on_error),
                                  max_record_bytes=params.max_record_bytes,
                                  meta_fields=doc_fields(params)):
            keep = [i for i, r in enumerate(batch.rows) if r in rows_wanted]
            if keep:
                rows.extend(scanner.scan_batch(batch.subset(keep)))
    frame = pl.DataFrame(rows, schema={**ROW_SCHEMA, "_post": pl.Int64})
    frame = with_post_facts(frame, index.post_flags, index.post_date, params.corpus_date)  # (as the scan has them)
    frame = frame.with_columns(post_id=index.post_ids(frame["_post"].to_numpy())).drop("_post")
    moved = {now: then for now, then in renamed.items() if now != then}
    if moved:  # read from the resolved path: spell sources (and FILE:ROW ids before evidence format 4) as the scan did
        frame = frame.with_columns(pl.col("source").replace(moved))
        for now, then in moved.items():
            if not any(str(u.path) == now and u.id_name is not None for u, _ in units):
                frame = frame.with_columns(pl.col("doc_id").str.replace(f"{now}:", f"{then}:", literal=True, n=1))
    return frame


def _compare(stored: pl.DataFrame, found: pl.DataFrame, report: Verification, listed: int) -> None:
    cols = [c for c in COMPARED if c in stored.columns]
    a = stored.select(cols).with_columns(_in_file=pl.lit(True))
    b = found.select(cols).with_columns(_found=pl.lit(True))
    joined = a.join(b, on=cols, how="full", nulls_equal=True, coalesce=True)
    order = ["source", "row", "doc_start", "post_id"]
    only_file = joined.filter(pl.col("_found").is_null()).sort(order)
    only_found = joined.filter(pl.col("_in_file").is_null()).sort(order)
    for r in only_file.head(listed).iter_rows(named=True):
        report.problems.append(Problem("match", f"{r['source']}:{r['row']}: the match of post {r['post_id']!r} at "
                                                f"characters {r['doc_start']}-{r['doc_end']} is not what a new scan finds"))
    for r in only_found.head(listed).iter_rows(named=True):
        report.problems.append(Problem("match", f"{r['source']}:{r['row']}: a new scan matches post {r['post_id']!r} at "
                                                f"characters {r['doc_start']}-{r['doc_end']}, which matches.parquet lacks"))
    rest = max(0, only_file.height - listed) + max(0, only_found.height - listed)
    if rest:
        report.problems.append(Problem("match", f"... and {rest:,} more differing match rows"))
