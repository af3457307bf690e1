"""The HTML report: one self-contained page, rendered in headless Chromium (Debian's chromium,
installed by .ci/run when missing) without console errors, showing the scan's key numbers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import PLANTED, run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


@pytest.fixture(scope="module")
def report(cli_index, tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("html")
    out = d / "out"
    proc = run_cli("scan", cli_index.path, PLANTED, "-o", out, "--sample", "0.5", "--seed", "1", "-q")
    assert proc.returncode == 0, proc.stderr
    page = d / "report.html"
    proc = run_cli("report", out, "--format", "html", "-o", page)
    assert proc.returncode == 0, proc.stderr
    return page, json.loads((out / "summary.json").read_text())


def test_the_page_is_self_contained(report) -> None:
    page, _ = report
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") >= 3
    # nothing to fetch: no links, sources or URLs (the SVG namespace is a name, not a request)
    assert not re.search(r"<link|<img|<iframe|\bsrc=|url\(|@import", html)
    assert set(re.findall(r"https?://[^\s\"'<]+", html)) <= {"http://www.w3.org/2000/svg"}



def test_the_page_shows_the_summary_numbers(report) -> None:
    page, s = report
    html = page.read_text(encoding="utf-8")
    for number in (f"{s['posts_matched']:,} of {s['posts_indexed']:,}", f"{s['docs_matched']:,} of {s['docs_scanned']:,}",
                   f"{s['share_chars_matched']:.2%}"):
        assert number in html, number
    est = s["estimates"]["share_chars_matched"]
    assert est["ci_low"] < est["ci_high"]  # a sampled scan: the whole-corpus bar carries its interval
    assert html.count('stroke="#c0392b"') == len(s["inputs"]) + 1  # each file, and the whole corpus


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                              timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs Debian's chromium)")
def test_rendered_in_chromium_without_console_errors(report, tmp_path: Path) -> None:
    page, summary = report
    shot = tmp_path / "report.png"
    proc = chromium("--window-size=1200,2400", f"--screenshot={shot}", page.as_uri())
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000, proc.stderr
    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0
    console = [line for line in (proc.stderr + dom.stderr).splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    text = re.sub(r"<[^>]+>", " ", dom.stdout)
    s = summary
    for number in (f"{s['posts_matched']:,} of {s['posts_indexed']:,}", f"{s['share_posts_matched']:.2%}",
                   f"{s['docs_matched']:,} of {s['docs_scanned']:,}", f"{s['share_docs_matched']:.2%}",
                   f"{s['matched_chars']:,} of {s['corpus_chars']:,}", f"{s['share_chars_matched']:.2%}"):
        assert number in text, number
    assert "Post side" in text and "Corpus side" in text and "Top matches" in text
    assert dom.stdout.count("<mark>") >= 10  # matched spans highlighted
