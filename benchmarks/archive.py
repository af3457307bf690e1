"""Archive scale at real prevalence: are the counted matches copies when millions of posts are indexed and
under 1 % of the documents hold one?

The small planted benchmark (:mod:`benchmarks.accuracy`) indexes 170 k posts and plants copies into most of
its documents; its precision says little about the job the tool exists for. Here:

* **posts**: every real post of the shared data — 2.26 M Reddit titles (``reddit_titles``), TweetEval and the
  airline tweets (about 2.43 M), each with its id and, where known, its date;
* **documents**: every page of ``wikinews_en``, and the *held-out (odd) halves* of ``wikipedia_en_sample`` (the
  odd-numbered files ``wiki_01``, ``wiki_03`` …) and of ``reddit_selftext`` (the records of odd 0-based line
  number): a forum corpus whose bodies sometimes repeat their own title, a natural copy, labelled by id. The
  even halves are the bundled background model's text (:mod:`provenance.text.background`), so the evidence of
  a match is never judged by a model that saw the document;
* **planted**: ``per_edit`` posts for each edit kind of :mod:`benchmarks.plant` (light and heavy edits,
  timelines), into a random ``doc_share`` (under 1 %) of the documents, each into a document no older than the
  post (a copy comes after its original);
* **dates**, as a user holding these files has them: posts keep theirs (``index build --date-field``: Reddit
  ``created_utc``, airline ``tweet_created``; TweetEval has none); a Reddit body carries its post's
  ``created_utc`` (``scan --doc-date-field``), and the Wikipedia and Wikinews dumps their snapshot's day
  (``scan --corpus-date``). A post of a later day than the document is not counted (``newer``): the
  figures say how many pairs that sets apart.

The index is built and the corpora scanned by the ``provenance`` command, as a user would (whole processes).
Scoring: a counted (not generic) pair ``(post, document)`` is correct when it was planted, when it is a Reddit
body holding its own title (same id), or when the judged file (``benchmarks/archive_judged.csv``: pairs read
by eye, with the verdict and the reason) says it is a real copy or quotation of the post; every other counted
pair is a false pair and is listed. Recall is over the planted pairs, by post length.

Run: ``python -m benchmarks.archive [--data DIR] [--work DIR]`` (about 10 minutes and 6 GiB on 2 cores), or
as the ``archive`` section of ``python -m benchmarks.run``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import polars as pl

from provenance.text.background import HELD_OUT_HALF, in_half, wikipedia_files

from . import data as shared
from . import plant
from .common import Context, Section, run_measured, table

TITLE = "Archive scale, real prevalence"
TITLES = "reddit_titles"
SELFTEXT = "reddit_selftext"
JUDGED = Path(__file__).with_name("archive_judged.csv")
LENGTHS = (("3-5", 3, 5), ("6-9", 6, 9), ("10-19", 10, 19), ("20+", 20, 10**9))
CORPORA = ("wikinews", "wikipedia", "selftext")
SNAPSHOTS = {"wikinews": "2022-09-14", "wikipedia": "2021-10-04"}
"""The day of each dump (their READMEs): ``--corpus-date`` of its documents; the Reddit bodies have their own."""
LISTED = 150


def read_posts(data: Path) -> pl.DataFrame:
    """Every post: id, text, created (ISO date or empty), source; ids distinct (the first of a repeated id kept)."""
    titles = pl.read_csv(data / TITLES / "titles.tsv.gz", separator="\t", quote_char=None,
                         schema_overrides={"id": pl.String, "subreddit": pl.String, "created_utc": pl.Float64,
                                           "title": pl.String})
    reddit = titles.select(pl.col("id"), pl.col("title").alias("text"),
                           pl.from_epoch(pl.col("created_utc").cast(pl.Int64), time_unit="s").dt.strftime("%Y-%m-%d")
                           .alias("created"), pl.lit("reddit").alias("source"))
    te = pl.DataFrame(shared.read_tweeteval(data), schema=["id", "text"], orient="row").with_columns(
        pl.lit("").alias("created"), pl.lit("tweeteval").alias("source"))
    air = pl.DataFrame([{"id": r["tweet_id"], "text": r["text"], "created": r["tweet_created"][:10],
                         "source": "airline"} for r in shared.read_airline(data)])
    return pl.concat([reddit, te, air]).unique("id", keep="first", maintain_order=True)


def read_docs(data: Path) -> dict[str, list[plant.Doc]]:
    """The three corpora as documents (ids ``wn-``, ``wp-``, ``rs-`` + the source's id): all of Wikinews, and
    only the held-out halves (``HELD_OUT_HALF``, odd) of the Wikipedia files and of the selftext records."""
    selftext = []
    with gzip.open(data / SELFTEXT / "selftext.jsonl.gz", "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if in_half(i, HELD_OUT_HALF):
                r = json.loads(line)
                selftext.append(plant.Doc("rs-" + r["id"], "selftext", r["subreddit"], r["text"]))
    wikipedia = plant.read_wikipedia(data, files=wikipedia_files(data, HELD_OUT_HALF))
    return {"wikinews": plant.read_wikinews(data), "wikipedia": wikipedia, "selftext": selftext}


def plant_copies(posts: pl.DataFrame, docs: dict[str, list[plant.Doc]], per_edit: int, doc_share: float,
                 seed: int, dates: dict[str, str] | None = None) -> tuple[dict[str, list[plant.Doc]], pl.DataFrame]:
    """Plant ``per_edit`` posts per edit kind into ``doc_share`` of all documents, each block into a document no
    older than its newest post (``dates``: document id -> ISO day; posts' ``created``); returns the new corpora
    and the truth (post_id, doc_id, edit, start, end, tokens)."""
    dates = dates or {}
    rng = random.Random(seed)
    norm = pl.col("text").str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()
    unique = posts.with_columns(norm.alias("_n")).filter(pl.len().over("_n") == 1)
    pool = unique.sample(n=min(unique.height, per_edit * len(plant.EDITS) * 6), seed=seed, shuffle=True)
    chosen: dict[str, list[tuple[dict[str, Any], str]]] = {e: [] for e in plant.EDITS}
    used: set[str] = set()
    for edit in plant._PICK_ORDER:
        for r in pool.iter_rows(named=True):
            if len(chosen[edit]) >= per_edit:
                break
            n = len(plant.tokens(r["text"]))
            if r["id"] in used or n < plant.MIN_PLANT_TOKENS or not plant.eligible(edit, r["text"]):
                continue
            post = plant.Post(r["id"], r["text"], r["source"], "", r["created"])
            planted = r["text"] if edit == "timeline" else plant.apply_edit(edit, post, rng)
            if edit not in ("verbatim", "timeline") and planted == r["text"]:
                continue
            used.add(r["id"])
            chosen[edit].append((r, planted))
    blocks: list[tuple[plant.Insert, bool]] = []
    for edit in plant.EDITS:
        if edit == "timeline":
            continue
        for r, planted in chosen[edit]:
            payload = {"post_id": r["id"], "edit": edit, "tokens": len(plant.tokens(r["text"]))}
            blocks.append((plant.Insert(-1, "", planted, [(0, len(planted), payload)]), edit in plant._PARA_ONLY,
                           r["created"] or ""))
    members = chosen["timeline"]
    while members:
        size = rng.randint(5, 10)
        group, members = members[:size], members[size:]
        body, spans = plant.timeline_block([r["text"] for r, _ in group], rng)
        payloads = [(s, e, {"post_id": r["id"], "edit": "timeline", "tokens": len(plant.tokens(r["text"]))})
                    for (r, _), (s, e) in zip(group, spans)]
        blocks.append((plant.Insert(-1, "", body, payloads), True, max(r["created"] or "" for r, _ in group)))
    rng.shuffle(blocks)
    everything = [(name, i) for name in CORPORA for i in range(len(docs[name]))]
    n_target = max(1, round(doc_share * len(everything)))
    targets = rng.sample(everything, n_target)
    per_doc: dict[tuple[str, int], list[plant.Insert]] = {}
    k = 0
    for ins, para_only, newest in blocks:
        for _ in range(4 * len(targets)):
            where = targets[k % len(targets)]
            k += 1
            if newest > dates.get(docs[where[0]][where[1]].id, newest):
                continue  # the document is older than the post: it cannot hold a copy
            text = docs[where[0]][where[1]].text
            try:
                ins.pos, ins.kind = plant._choose_boundary(text, [x.pos for x in per_doc.get(where, [])], para_only, rng)
            except ValueError:
                continue
            per_doc.setdefault(where, []).append(ins)
            break
        else:
            raise ValueError("no target document is both long enough and no older than the planted posts")
    out = {name: list(ds) for name, ds in docs.items()}
    rows = []
    for (name, i), inserts in sorted(per_doc.items()):
        d = docs[name][i]
        text, spans, _ = plant.insert_all(d.text, inserts)
        out[name][i] = plant.Doc(d.id, d.source, d.title, text)
        rows += [{"post_id": s["post_id"], "doc_id": d.id, "edit": s["edit"], "start": s["start"], "end": s["end"],
                  "tokens": s["tokens"]} for s in spans]
    return out, pl.DataFrame(rows).sort("doc_id", "start")


def _build(idx: Path, posts: Path):
    return run_measured(["-m", "provenance.cli", "index", "build", str(posts), "--format", "jsonl", "--id-field", "id",
                         "--date-field", "created", "-o", str(idx), "--force", "-q"])


def doc_dates(posts: pl.DataFrame, docs: dict[str, list[plant.Doc]]) -> dict[str, str]:
    """Each document's day (ISO): a Reddit body's is its own post's (same id); a dump's page has its snapshot's."""
    reddit = dict(zip(posts.filter(pl.col("source") == "reddit")["id"], posts.filter(pl.col("source") == "reddit")["created"]))
    out = {}
    for name, ds in docs.items():
        for d in ds:
            day = SNAPSHOTS.get(name) or reddit.get(d.id.removeprefix("rs-"))
            if day:
                out[d.id] = day
    return out


def write_inputs(posts: pl.DataFrame, corpora: dict[str, list[plant.Doc]], work: Path,
                 dates: dict[str, str] | None = None) -> dict[str, Path]:
    """posts.jsonl (id, text, created) and a JSONL file a corpus (id, title, text, and ``date`` where known:
    the Reddit bodies; the dumps' pages take ``--corpus-date``)."""
    work.mkdir(parents=True, exist_ok=True)
    dates = dates or {}
    paths = {"posts": work / "posts.jsonl"}
    posts.select("id", "text", "created").write_ndjson(paths["posts"])
    for name, ds in corpora.items():
        paths[name] = work / f"{name}.jsonl"
        frame = pl.DataFrame({"id": [d.id for d in ds], "title": [d.title for d in ds], "text": [d.text for d in ds]},
                             schema={"id": pl.String, "title": pl.String, "text": pl.String})
        if name not in SNAPSHOTS:
            frame = frame.with_columns(pl.Series("date", [dates.get(d.id) for d in ds], dtype=pl.String))
        frame.write_ndjson(paths[name])
    return paths


def read_judged(path: Path = JUDGED) -> dict[tuple[str, str], tuple[bool, str]]:
    """Pairs read by eye: (post_id, doc_id) -> (a real copy or quotation of the post?, the reason)."""
    if not path.exists():
        return {}
    with open(path, encoding="utf-8", newline="") as f:
        return {(r["post_id"], r["doc_id"]): (r["verdict"] == "copy", r["reason"]) for r in csv.DictReader(f)}


def _mean(flags: pl.Series) -> float:
    return float(flags.mean()) if len(flags) else float("nan")


def length_bucket(n: int) -> str:
    return next(name for name, lo, hi in LENGTHS if lo <= n <= hi)


def reddit_links(corpus: Path) -> pl.DataFrame:
    """``(doc_id, post_id)`` for every Reddit post a body of the corpus links to by its id
    (``reddit.com/r/x/comments/<id>/...``, ``/r/x/comments/<id>/`` or ``redd.it/<id>``)."""
    bodies = pl.scan_ndjson(corpus).select(pl.col("id").alias("doc_id"),
                                           pl.col("text").str.extract_all(r"(?:/comments/|redd\.it/)[a-z0-9]{4,8}\b").alias("link"))
    return (bodies.explode("link").drop_nulls("link")
            .select("doc_id", pl.col("link").str.replace(r"^.*/", "").alias("post_id")).unique().collect())


def reach_the_bar(truth: pl.DataFrame, posts: pl.DataFrame, bars: dict[str, float]) -> pl.Series:
    """For each planted copy: whether its post's whole text carries the evidence bits its corpus's E-value bar
    asks (``bars``: corpus -> bits needed, from the scan's summary), measured as the scan measures them
    (the bundled background model, calibrated). A match spans at most the post, so a copy whose post does
    not reach the bar can never count at ``E <= max_evalue``: the share that does is the ceiling of recall."""
    from provenance.results.significance import calibrated_bits
    from provenance.text.background import default_background, plain_hasher
    from provenance.text.shingles import batch_shingles

    texts = truth.select("post_id").join(posts.select(pl.col("id").alias("post_id"), "text"), on="post_id",
                                         how="left", maintain_order="left")["text"].fill_null("").to_list()
    sb = batch_shingles(texts, 3, plain_hasher(), lines=False)
    bits = calibrated_bits(default_background().bits(sb.token_hashes, sb.token_offsets, sb.nospace))
    prefix = {"wn-": "wikinews", "wp-": "wikipedia", "rs-": "selftext"}
    bar = [bars.get(prefix.get(d[:3], ""), float("inf")) for d in truth["doc_id"].to_list()]
    return pl.Series("reachable", bits >= pl.Series(bar, dtype=pl.Float64).to_numpy())


def score(matches: pl.DataFrame, truth: pl.DataFrame, posts: pl.DataFrame,
          judged: dict[tuple[str, str], tuple[bool, str]], linked: pl.DataFrame | None = None) -> dict[str, Any]:
    """Counted precision (planted, self-title, linked and judged-real pairs are correct) and recall by post length.

    ``linked``: ``(doc_id, post_id)`` of the bodies that link to a post by its id (:func:`reddit_links`): a body
    that links to a post and holds its title quotes that post, a copy labelled by id as a self-title is."""
    counted = matches.filter(~pl.col("generic")) if "generic" in matches.columns else matches
    pairs = counted.group_by("post_id", "doc_id").agg(pl.all().sort_by("evidence_bits", descending=True).first())
    planted = truth.select("post_id", "doc_id").unique().with_columns(pl.lit(True).alias("planted"))
    pairs = pairs.join(planted, on=["post_id", "doc_id"], how="left").with_columns(pl.col("planted").fill_null(False))
    self_title = pl.col("doc_id") == ("rs-" + pl.col("post_id"))
    pairs = pairs.with_columns(self_title.alias("self_title"))
    links = (linked if linked is not None else pl.DataFrame(schema={"doc_id": pl.String, "post_id": pl.String}))
    pairs = pairs.join(links.select("doc_id", "post_id").unique().with_columns(pl.lit(True).alias("linked")),
                       on=["post_id", "doc_id"], how="left")
    pairs = pairs.with_columns(pl.col("linked").fill_null(False) & ~pl.col("self_title") & ~pl.col("planted"))
    # A post whose words are those of a post planted in the same document (other punctuation or case: "Monty
    # Python [1975]" and "Monty Python (1975)") is found rightly: the document holds its text too.
    words = pl.col("text").str.to_lowercase().str.extract_all(r"\w+").list.join(" ")
    norm = posts.select(pl.col("id").alias("post_id"), words.alias("_w"))
    planted_words = truth.select("post_id", "doc_id").join(norm, on="post_id").select("doc_id", "_w").unique()
    same = pairs.join(norm, on="post_id", how="left").join(planted_words.with_columns(pl.lit(True).alias("same_text")),
                                                          on=["doc_id", "_w"], how="left")
    pairs = same.with_columns(pl.col("same_text").fill_null(False) & ~pl.col("planted")).drop("_w")
    verdicts = [judged.get((p, d)) for p, d in zip(pairs["post_id"], pairs["doc_id"])]
    pairs = pairs.with_columns(pl.Series("judged_copy", [v[0] if v else None for v in verdicts], dtype=pl.Boolean),
                               pl.Series("reason", [v[1] if v else None for v in verdicts], dtype=pl.String))
    labelled = pl.col("planted") | pl.col("same_text") | pl.col("self_title") | pl.col("linked")
    correct = labelled | pl.col("judged_copy").fill_null(False)
    pairs = pairs.with_columns(correct.alias("correct"))
    found = truth.join(pairs.select("post_id", "doc_id").with_columns(pl.lit(True).alias("found")),
                       on=["post_id", "doc_id"], how="left").with_columns(pl.col("found").fill_null(False))
    found = found.with_columns(pl.col("tokens").map_elements(length_bucket, return_dtype=pl.String).alias("length"))
    if "reachable" not in found.columns:
        found = found.with_columns(pl.lit(None, dtype=pl.Boolean).alias("reachable"))
    by_length = {name: found.filter(pl.col("length") == name) for name, _, _ in LENGTHS}
    texts = dict(zip(posts["id"], posts["text"]))
    false = pairs.filter(~pl.col("correct")).sort("evidence_bits", descending=True)
    per_corpus = {}
    for (c,), g in (pairs.group_by("corpus", maintain_order=True) if "corpus" in pairs.columns else []):
        outside = g.filter(~labelled)
        judged_rows = outside.filter(pl.col("judged_copy").is_not_null())
        rate = float(judged_rows["judged_copy"].mean()) if judged_rows.height else None
        unjudged = outside.height - judged_rows.height
        est = int(g["correct"].sum()) + (rate * unjudged if rate is not None else 0.0)
        per_corpus[c] = {"counted": g.height, "correct": int(g["correct"].sum()), "outside": outside.height,
                         "judged": judged_rows.height, "judged_copies": int(judged_rows["judged_copy"].sum()),
                         "estimated_correct": est}
    return {
        "counted_pairs": pairs.height, "correct": int(pairs["correct"].sum()), "planted_found": int(pairs["planted"].sum()),
        "self_title": int(pairs["self_title"].sum()), "same_text": int(pairs["same_text"].sum()),
        "linked": int(pairs["linked"].sum()),
        "judged_real": int(pairs.filter(~labelled)["judged_copy"].fill_null(False).sum()),
        "precision": float(pairs["correct"].mean()) if pairs.height else 1.0,
        "recall_all": _mean(found["found"]), "recall_10plus": _mean(found.filter(pl.col("tokens") >= 10)["found"]),
        "planted": truth.height, "generic_rows": matches.height - counted.height, "per_corpus": per_corpus,
        "precision_estimated": (sum(v["estimated_correct"] for v in per_corpus.values()) / pairs.height
                                if per_corpus and pairs.height else None),
        "by_length": {k: {"planted": v.height, "found": int(v["found"].sum()), "reachable": int(v["reachable"].fill_null(False).sum())}
                      for k, v in by_length.items()},
        "recall_ceiling_all": _mean(found["reachable"].fill_null(False)),
        "recall_ceiling_10plus": _mean(found.filter(pl.col("tokens") >= 10)["reachable"].fill_null(False)),
        "by_edit": {e: {"planted": int(g.height), "found": int(g["found"].sum())}
                    for (e,), g in found.group_by("edit", maintain_order=True)},
        # (ids and figures only: the shared Reddit text may be used for measurement, not republished; the
        # texts go to the work directory's outside_truth.csv)
        "false_pairs": [{"post_id": r["post_id"], "doc_id": r["doc_id"], "bits": r["evidence_bits"],
                         "method": r["method"], "placement": r.get("placement"), "judged": r["reason"]}
                        for r in false.iter_rows(named=True)],
        "false_pair_texts": [{"post_id": r["post_id"], "doc_id": r["doc_id"], "post": texts.get(r["post_id"], ""),
                              "span": (r["doc_text"] or "")[:160]} for r in false.iter_rows(named=True)],
    }


def run_archive(ctx: Context, per_edit: int = 25, doc_share: float = 0.004, reuse: bool = False) -> dict[str, Any]:
    """Plant, index, scan and score; ``reuse``: keep the inputs and index of an earlier run in ``ctx.work`` (same
    seed and sizes give the same ones) and only scan and score again."""
    t0 = time.perf_counter()
    posts = read_posts(ctx.data)
    idx = ctx.work / "idx"
    from provenance.index import FORMAT_VERSION

    made = {"seed": ctx.seed, "per_edit": per_edit, "doc_share": doc_share, "data": str(ctx.data),
            "index_format": FORMAT_VERSION, "dates": SNAPSHOTS, "documents": f"wikinews all, wikipedia and selftext {HELD_OUT_HALF} half"}
    stamp = ctx.work / "inputs.json"
    if reuse and stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")) == made and (idx / "manifest.json").is_file():
        truth = pl.read_csv(ctx.work / "truth.csv", schema_overrides={"post_id": pl.String, "doc_id": pl.String})
        paths = {"posts": ctx.work / "posts.jsonl", **{name: ctx.work / f"{name}.jsonl" for name in CORPORA}}
        n_docs = sum(pl.scan_ndjson(paths[name]).select(pl.len()).collect().item() for name in CORPORA)
    else:
        docs = read_docs(ctx.data)
        dates = doc_dates(posts, docs)
        corpora, truth = plant_copies(posts, docs, per_edit, doc_share, ctx.seed, dates)
        paths = write_inputs(posts, corpora, ctx.work, dates)
        truth.write_csv(ctx.work / "truth.csv")
        n_docs = sum(len(v) for v in corpora.values())
        reuse = False
    build = None if reuse else _build(idx, paths["posts"])
    stamp.write_text(json.dumps(made), encoding="utf-8")
    ctx.log(f"archive: {posts.height:,} posts, {n_docs:,} documents, {truth.height} planted copies in "
            f"{truth['doc_id'].n_unique()} documents ({truth['doc_id'].n_unique() / n_docs:.2%}); "
            f"inputs in {time.perf_counter() - t0:.0f} s")
    exe = ["-m", "provenance.cli"]
    scans, frames = {}, []
    for name in CORPORA:
        out = ctx.work / f"scan-{name}"
        when = ["--corpus-date", SNAPSHOTS[name]] if name in SNAPSHOTS else ["--doc-date-field", "date"]
        m = run_measured([*exe, "scan", str(idx), str(paths[name]), "--format", "jsonl", "--id-field", "id", *when,
                          "-o", str(out), "--force", "-q"])
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        scans[name] = {"seconds": m.seconds, "peak_rss_mib": m.peak_rss / 2**20, "docs": summary["docs_scanned"],
                       "posts_matched": summary["posts_matched"], "words": summary.get("words_scanned"),
                       "bits_needed": summary.get("significance", {}).get("bits_needed"),
                       "not_counted": summary.get("significance", {}).get("not_counted", {})}
        frames.append(pl.read_parquet(out / "matches.parquet").with_columns(pl.lit(name).alias("corpus")))
    matches = pl.concat(frames, how="diagonal_relaxed")
    bars = {name: v["bits_needed"] for name, v in scans.items() if v.get("bits_needed")}
    truth = truth.with_columns(reach_the_bar(truth, posts, bars))
    result = score(matches, truth, posts, read_judged(), reddit_links(paths["selftext"]))
    texts = result.pop("false_pair_texts")
    if texts:
        pl.DataFrame(result["false_pairs"]).join(pl.DataFrame(texts), on=["post_id", "doc_id"], how="left").write_csv(
            ctx.work / "outside_truth.csv")
    result.update({"posts": posts.height, "docs": n_docs, "docs_planted": truth["doc_id"].n_unique(),
                   "build_seconds": build.seconds if build else None, "scans": scans})
    return result


def render(r: dict[str, Any]) -> str:
    lines = [
        f"{r['posts']:,} real posts indexed; {r['docs']:,} real documents scanned (all of wikinews_en; the odd "
        f"files of wikipedia_en_sample and the odd records of reddit_selftext, the halves the background model "
        f"never saw); {r['planted']} planted copies in {r['docs_planted']} documents "
        f"({r['docs_planted'] / r['docs']:.2%} of them).", "",
        table(["", "value"], [
            ["counted pairs (post, document)", f"{r['counted_pairs']:,}"],
            ["… planted copies found", r["planted_found"]],
            ["… posts with the words of a post planted there", r["same_text"]],
            ["… Reddit bodies holding their own title", r["self_title"]],
            ["… Reddit bodies linking to the post whose title they hold", r.get("linked", 0)],
            ["… other pairs judged real by reading", r["judged_real"]],
            ["**counted precision** (every unjudged pair outside the truth counted wrong)", f"**{r['precision']:.3f}**"],
            ["counted precision estimated from the judged sample",
             f"{r['precision_estimated']:.3f}" if r.get("precision_estimated") is not None else "–"],
            ["**recall, planted posts of 10+ tokens**", f"**{r['recall_10plus']:.3f}**"],
            ["**recall, all planted posts**", f"**{r['recall_all']:.3f}**"],
            ["ceiling of recall at the E-value bar: planted posts of 10+ tokens whose whole text reaches it",
             f"{r['recall_ceiling_10plus']:.3f}" if r.get("recall_ceiling_10plus") is not None else "–"],
            ["… all planted posts", f"{r['recall_ceiling_all']:.3f}" if r.get("recall_ceiling_all") is not None else "–"],
            ["generic rows (listed, not counted)", f"{r['generic_rows']:,}"],
        ]), "",
        table(["post length (tokens)", "planted", "found", "recall", "whole post reaches the bar", "ceiling"],
              [[k, v["planted"], v["found"], f"{v['found'] / v['planted']:.3f}" if v["planted"] else "–",
                v.get("reachable", "–"), f"{v['reachable'] / v['planted']:.3f}" if v["planted"] and "reachable" in v else "–"]
               for k, v in r["by_length"].items()]), "",
        "A match spans at most its post, so a copy counts only if its post's whole text carries about the bits of "
        "the E-value bar (calibrated, as the scan weighs it): the share of planted posts that do is about the most "
        "any setting at that bar can find. Counting more of the short posts means counting spans that chance "
        "writes as often in a search of this size.", "",
        table(["edit", "planted", "found"], [[k, v["planted"], v["found"]] for k, v in r["by_edit"].items()]), "",
        table(["corpus", "documents", "words", "bits needed", "scan s", "peak RSS MiB", "posts counted", "not counted, by reason"],
              [[k, f"{v['docs']:,}", f"{v.get('words') or 0:,}", f"{v.get('bits_needed') or 0:.1f}", f"{v['seconds']:.1f}",
                f"{v['peak_rss_mib']:.0f}", v["posts_matched"],
                ", ".join(f"{a} {b:,}" for a, b in sorted((v.get("not_counted") or {}).items()))]
               for k, v in r["scans"].items()]), "",
        table(["corpus", "counted pairs", "known correct", "precision (unjudged pairs wrong)", "outside the truth",
               "of them judged: copies", "precision estimated from the judged sample"],
              [[k, v["counted"], v["correct"], f"{v['correct'] / v['counted']:.3f}" if v["counted"] else "–",
                v.get("outside", 0), f"{v.get('judged', 0)}: {v.get('judged_copies', 0)}",
                f"{v.get('estimated_correct', v['correct']) / v['counted']:.3f}" if v["counted"] else "–"]
               for k, v in r.get("per_corpus", {}).items()]), "",
        "Counted pairs outside the planted truth are read by eye in a random sample per corpus "
        "(`benchmarks/archive_judged.csv`: the verdict and its reason); the estimate applies each corpus's "
        "judged share of copies to its unjudged pairs.", "",
        (f"Index build: {r['build_seconds']:.0f} s. " if r.get("build_seconds") else "") + f"Counted pairs outside the truth: {len(r['false_pairs'])}"
        + (f" (the {LISTED} strongest listed, by id; all, with their texts, in the work directory's outside_truth.csv)"
           if len(r["false_pairs"]) > LISTED else "") + ":", "",
    ]
    rows = [[f["post_id"], f["doc_id"], f"{f['bits']:.0f}", f["method"], f.get("placement") or "",
             f.get("judged") or ""] for f in r["false_pairs"][:LISTED]]
    lines.append(table(["post", "document", "bits", "method", "placement", "judged (benchmarks/archive_judged.csv)"], rows)
                 if rows else "(none)")
    return "\n".join(lines)


def run(ctx: Context) -> Section:
    if ctx.quick:
        return Section(TITLE, "skipped with --quick (it needs the 2.4 M shared posts: `python -m benchmarks.archive`)")
    if not ctx.has_data or not (ctx.data / TITLES).is_dir():
        return Section(TITLE, "skipped: ../shared/data/reddit_titles not found")
    r = run_archive(replace(ctx, work=ctx.work / "archive"), reuse=True)  # (inputs of the same seed and sizes)
    return Section(TITLE, render(r), r)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=shared.DEFAULT_DATA)
    ap.add_argument("--work", type=Path, default=Path("bench-work/archive"))
    ap.add_argument("--per-edit", type=int, default=25)
    ap.add_argument("--doc-share", type=float, default=0.004)
    ap.add_argument("--reuse", action="store_true", help="keep the inputs and index of an earlier run in --work")
    args = ap.parse_args(argv)
    ctx = Context(data=args.data, work=args.work)
    r = run_archive(ctx, args.per_edit, args.doc_share, args.reuse)
    (args.work / "result.json").write_text(json.dumps(r, indent=1), encoding="utf-8")
    print(render(r))


if __name__ == "__main__":
    main()
