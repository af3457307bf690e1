"""The benchmark harness: one command, every table of benchmarks/RESULTS.md.

    python -m benchmarks.run                      # full run (shared data, ~30-40 min on 2 cores)
    python -m benchmarks.run --quick              # bundled fixtures and small sizes, under a minute
    python -m benchmarks.run --only speed,scale   # some sections
    python -m benchmarks.run --only scale --keep  # rerun one section, keep the others of RESULTS.md
    python -m benchmarks.run --readme             # also copy the headline table into README.md

Sections (each a module of this folder with ``run(ctx) -> Section``):

* ``accuracy`` — planted real tweets in real documents: recall by edit type and post length, pair
  precision, estimated vs true share of corpus characters, natural quotations in Wikinews;
* ``archive`` — 2.43 M real posts indexed, 91 k real documents scanned (the held-out halves), a few hundred planted copies in
  under 1 % of them: counted precision and recall by post length, every counted pair outside the truth;
* ``calibration`` — containment and Jaccard score distributions and precision/recall curves on
  labeled pairs (Twitter URL paraphrases, MSRP, Clough & Stevenson);
* ``speed`` — the same posts and corpus through provenance, datasketch, rensa, a naive Python scan
  and the floor, in rotating rounds, with per-round ratios;
* ``scale`` — a seeded Zipf workload: time and memory against index size and corpus size;
* ``background`` — the background model's calibration: predicted probability of spans of held-out real
  text against how often they occur in other held-out text, for the former and the bundled model.

A full run writes ``benchmarks/RESULTS.md`` and ``benchmarks/results.json``; ``--quick`` writes them
into the work folder unless ``--out`` says otherwise, so a quick run never replaces the real results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from . import accuracy, archive, calibrate, calibration_background, scale, speed
from .common import ROOT, Context, Section, table

SECTIONS: dict[str, Callable[[Context], Section]] = {
    "accuracy": accuracy.run,
    "archive": archive.run,
    "calibration": calibrate.run,
    "speed": speed.run,
    "scale": scale.run,
    "background": calibration_background.run,
}
TITLES = {"accuracy": accuracy.TITLE, "archive": archive.TITLE, "calibration": calibrate.TITLE, "speed": speed.TITLE, "scale": scale.TITLE,
          "background": calibration_background.TITLE}
PACKAGES = ["provenance", "numpy", "polars", "xxhash", "datasketch", "rensa"]
HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"


def machine() -> list[list[str]]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / (1 << 20):.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    rows = [["machine", f"{platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs, {mem} RAM"],
            ["cpu", cpu], ["python", platform.python_version()]]
    for name in PACKAGES:
        try:
            rows.append([name, metadata.version(name)])
        except metadata.PackageNotFoundError:
            rows.append([name, "not installed"])
    return rows


def _plain(name: str) -> str:
    """A measure's name without the planning notes of the sections' targets (issue numbers, goals)."""
    import re

    return re.sub(r";\s*goal [^)]*(?=\))|\s*\((?:goal [^)]*)\)|\s+as issue \d+ states them", "", name)


def headline(sections: dict[str, Section]) -> str:
    """The few figures a user picks a scanner by, from the sections that ran: what was measured, without
    the internal targets the sections check."""
    rows: list[list[Any]] = []
    arc = sections.get("archive")
    if arc is not None and arc.data.get("counted_pairs") is not None:
        d = arc.data
        rows += [[f"archive scale ({d['posts']:,} real posts, {d['docs']:,} real documents, copies in "
                  f"{d['docs_planted'] / d['docs']:.2%}): counted precision, unjudged pairs wrong / estimated from "
                  "a judged sample", f"{d['precision']:.3f} / "
                  + (f"{d['precision_estimated']:.3f}" if d.get("precision_estimated") is not None else "–")],
                 ["archive scale: recall of planted posts, 10+ tokens / all", f"{d['recall_10plus']:.3f} / {d['recall_all']:.3f}"]]
    acc = sections.get("accuracy")
    if acc is not None:
        for t in acc.data.get("targets", []):
            value = t["value"]
            rows.append([_plain(t["target"]), f"{value:.4f}" if isinstance(value, float) else str(value)])
    sp = sections.get("speed")
    if sp is not None:
        speeds = {r[0]: r for r in sp.data["speed"]}
        if "provenance" in speeds:
            rows.append(["provenance scan throughput (MB/s of JSONL)", f"{speeds['provenance'][1]:.2f}"])
        rows.extend([_plain(r[0]), r[2]] for r in sp.data["checks"])
    sc = sections.get("scale")
    if sc is not None and sc.data.get("headline"):
        rows.extend([k, v] for k, v in sc.data["headline"])
    return table(["measure", "measured"], rows, "lr") if rows else "(no section ran)"


def kept_sections(results: Path, names: list[str]) -> dict[str, tuple[Section, str]]:
    """The sections ``names`` of an earlier RESULTS.md (Markdown) and results.json (figures), each with
    the "generated by" line of the run that measured it."""
    text = results.read_text(encoding="utf-8")
    data = json.loads(results.with_name("results.json").read_text(encoding="utf-8"))
    origin = data.get("_origin", {})
    first = next((line for line in text.splitlines() if line.startswith("Generated by")), "")
    kept = {}
    for name in names:
        title = TITLES[name]
        start = text.index(f"\n## {title}\n") + len(f"\n## {title}\n")
        end = text.find("\n## ", start)
        body = text[start : end if end >= 0 else len(text)].strip()
        note = origin.get(name) or first.split(". Every figure")[0].removeprefix("Generated by ").rsplit(" in ", 1)[0]
        if body.startswith("*Kept from"):
            body = body.split("\n", 2)[2] if body.count("\n") >= 2 else ""
        kept[name] = (Section(title, body, data[name]), note)
    return kept


def render(sections: dict[str, Section], ctx: Context, argv: list[str], seconds: float,
           kept: dict[str, str] | None = None) -> str:
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m benchmarks.run" + (" " + " ".join(argv) if argv else "")
    kept = kept or {}
    ran = [s.title for n, s in sections.items() if n not in kept]
    scope = ("Every figure below comes from this run" if not kept else
             f"It ran {', '.join(ran)}; the other sections are kept from the earlier runs each names")
    out = [
        "# Benchmark results",
        "",
        f"Generated by `{command}` on {date} in {seconds / 60:.1f} minutes"
        f"{' (quick mode: fixtures and small sizes)' if ctx.quick else ''}. {scope}; rerun the command to "
        "regenerate the file. Each section says how it measures.",
        "",
        table(["", ""], machine(), "ll"),
        "",
        "## Headline",
        "",
        HEADLINE_START,
        headline(sections),
        HEADLINE_END,
        "",
    ]
    for name, section in sections.items():
        out += [f"## {section.title}", ""]
        if name in kept:
            out += [f"*Kept from an earlier run, not rerun: {kept[name]}.*", ""]
        out += [section.markdown.strip(), ""]
    return "\n".join(out + memory_cases())


def memory_cases(path: Path = Path(__file__).parent / "MEMORY.md") -> list[str]:
    """The tables of ``MEMORY.md`` (peak RSS of a long record, a decompression bomb, many matches), which
    ``python -m benchmarks.memory`` measures apart from this run (each case runs the old code beside the new)."""
    if not path.is_file():
        return []
    tables: list[str] = []
    previous = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("|"):
            if not previous.startswith("|") and tables:
                tables.append("")  # (a blank line between two tables)
            tables.append(line)
        previous = line
    return ["## Memory: a long record, a decompression bomb, many matches", "",
            "*Measured apart from this run by `python -m benchmarks.memory` (the old code beside the new, same session): "
            "the tables of [MEMORY.md](MEMORY.md), which has the commands, the machine and the error lines.*", "",
            *tables, ""]


def update_readme(readme: Path, results: str) -> None:
    """Replace README's headline block with the one in ``results``."""
    block = results[results.index(HEADLINE_START) : results.index(HEADLINE_END) + len(HEADLINE_END)]
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(HEADLINE_START), text.index(HEADLINE_END) + len(HEADLINE_END)
    readme.write_text(text[:start] + block + text[end:], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fixtures and small sizes (under a minute)")
    ap.add_argument("--only", default=",".join(SECTIONS), help="sections to run, comma-separated: " + ", ".join(SECTIONS))
    ap.add_argument("--data", type=Path, default=Context.data, help="shared data folder (default: ../shared/data)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench-work", help="scratch folder (default: ./bench-work)")
    ap.add_argument("--rounds", type=int, help="timing rounds (default: 3; 1 with --quick)")
    ap.add_argument("--out", type=Path, help="Markdown results (default: benchmarks/RESULTS.md; with --quick, WORK/RESULTS.md)")
    ap.add_argument("--readme", action="store_true", help="copy the headline table into README.md")
    ap.add_argument("--keep", action="store_true",
                    help="with --only: keep the other sections of the existing results file (marked as kept)")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        ap.error(f"unknown section(s): {', '.join(unknown)}")
    rounds = args.rounds or (1 if args.quick else 3)
    ctx = Context(data=args.data, work=args.work, quick=args.quick, rounds=rounds)
    ctx.work.mkdir(parents=True, exist_ok=True)
    out = args.out or (ctx.work / "RESULTS.md" if args.quick else ROOT / "benchmarks" / "RESULTS.md")
    previous = kept_sections(out, [n for n in SECTIONS if n not in names]) if args.keep else {}
    t0 = time.perf_counter()
    ran: dict[str, Section] = {}
    for name in names:
        ctx.log(f"== {name}")
        t = time.perf_counter()
        ran[name] = SECTIONS[name](ctx)
        ctx.log(f"== {name}: {time.perf_counter() - t:.0f} s")
    sections = {n: ran[n] if n in ran else previous[n][0] for n in SECTIONS if n in ran or n in previous}
    kept = {n: note for n, (_, note) in previous.items()}
    text = render(sections, ctx, argv, time.perf_counter() - t0, kept)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    stamp = f"`python -m benchmarks.run {' '.join(argv)}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}"
    data: dict[str, Any] = {name: s.data for name, s in sections.items()}
    data["_origin"] = {n: kept.get(n, stamp) for n in sections}
    out.with_name("results.json").write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    if args.readme:
        update_readme(ROOT / "README.md", text)
    ctx.log(f"wrote {out} and {out.with_name('results.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
