"""The HTML report: one self-contained page, rendered in headless Chromium (Debian's chromium,
installed by .ci/run when missing) without console errors, showing the scan's key numbers."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

from provenance.results.headline import share_text
from conftest import PLANTED, POSTS_CSV, run_cli_here

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


@pytest.fixture(scope="module")
def report(cli_index, tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("html")
    out = d / "out"
    # the corpus under a long path, as in a CI checkout: the page prints each match's source path, a word
    # with no break in it, and must still fit a phone's width wherever the corpus lives
    deep = d / "tmp.ep0LWcheckout" / "provenanceclonedirectory" / PLANTED.name
    deep.parent.mkdir(parents=True)
    shutil.copyfile(PLANTED, deep)
    proc = run_cli_here("scan", cli_index.path, deep, "-o", out, "--sample", "0.5", "--seed", "1", "-q")
    assert proc.returncode == 0, proc.stderr
    page = d / "report.html"
    proc = run_cli_here("report", out, "--format", "html", "-o", page)
    assert proc.returncode == 0, proc.stderr
    return page, json.loads((out / "summary.json").read_text())


def test_the_page_is_self_contained(report) -> None:
    page, _ = report
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") >= 3
    # nothing to fetch: no links, sources or URLs (the SVG namespace is a name, not a request)
    assert not re.search(r"<link|<img|<iframe|\bsrc=|url\(|@import", html)
    # (a document's own words may hold a URL: shown as text, never in an attribute that a browser follows)
    assert set(re.findall(r"=\s*[\"']?(https?://[^\s\"'<>]+)", html)) <= {"http://www.w3.org/2000/svg"}
    assert not re.search(r"\bhref=", html)



def test_the_page_shows_the_summary_numbers(report) -> None:
    page, s = report
    html = page.read_text(encoding="utf-8")
    for number in (f"{s['posts_matched']:,} of {s['posts_indexed']:,}", f"{s['docs_matched']:,} of {s['docs_scanned']:,}",
                   share_text(s['share_chars_matched'])):
        assert number in html, number
    est = s["estimates"]["share_chars_matched"]
    assert est["ci_low"] < est["ci_high"]  # a sampled scan: the whole-corpus bar carries its interval
    charts = html[html.index("</figure>"):]  # after the answer's chart (tested below)
    assert charts.count('stroke="#c0392b"') == len(s["inputs"]) + 1  # each file, and the whole corpus


def test_the_page_opens_with_the_answer_and_its_chart(report) -> None:
    page, s = report
    html = page.read_text(encoding="utf-8")
    first = re.search(r'<p class="answer">([^<]*)</p>', html)
    assert first and first.start() < html.index("<table") and first.start() < html.index("<svg")
    est, conf = s["estimates"]["share_chars_matched"], s["estimates"]["confidence"]
    pct = lambda x: share_text(x)[:-2]  # noqa: E731
    sentence = first.group(1)
    assert sentence.startswith(f"{pct(est['value'])} % of this corpus&#x27;s characters ({100 * conf:g} % interval "
                               f"{pct(est['ci_low'])}–{pct(est['ci_high'])} %) are copies of indexed posts"), sentence
    assert f"{s['posts_matched']:,} posts found in {s['docs_matched']:,} of the {s['docs_scanned']:,} documents" in sentence
    # the chart right after it: the bar is the share, the whisker the interval, on one axis
    chart = html[first.end():html.index("</figure>", first.end())]
    assert chart.lstrip().startswith('<figure class="answer-chart">')
    top = float(re.search(r'data-top="([^"]+)"', chart).group(1))
    assert est["ci_high"] <= top <= 1
    x0, w = map(float, re.search(r'<rect x="([^"]+)" y="[^"]+" width="([^"]+)" height="[^"]+" fill="#eef2f8"', chart).groups())
    bar_x, bar = map(float, re.search(r'<rect class="share" x="([^"]+)" y="[^"]+" width="([^"]+)"', chart).groups())
    assert bar_x == x0 and abs(bar - w * est["value"] / top) < 0.01
    x1, x2 = map(float, re.search(r'<line class="ci" x1="([^"]+)" x2="([^"]+)"', chart).groups())
    assert abs(x1 - (x0 + w * est["ci_low"] / top)) < 0.1 and abs(x2 - (x0 + w * est["ci_high"] / top)) < 0.1


def test_the_answer_of_a_full_scan_has_no_interval(cli_index, tmp_path: Path) -> None:
    from provenance.results.headline import answer

    out = tmp_path / "out"
    assert run_cli_here("scan", cli_index.path, PLANTED, "-o", out, "-q").returncode == 0
    s = json.loads((out / "summary.json").read_text())
    text = answer(s)
    assert "interval" not in text and "sampled" not in text
    assert text == (f"{share_text(s['share_chars_matched'])} of this corpus's characters are copies of indexed posts: "
                    f"{s['posts_matched']:,} posts found in {s['docs_matched']:,} of {s['docs_scanned']:,} documents.")
    none = {**s, "posts_matched": 0, "docs_matched": 0, "matched_chars": 0, "share_chars_matched": 0.0, "estimates": {}}
    assert answer(none).startswith("No copy of an indexed post was found in this corpus")


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
    for number in (f"{s['posts_matched']:,} of {s['posts_indexed']:,}", share_text(s['share_posts_matched']),
                   f"{s['docs_matched']:,} of {s['docs_scanned']:,}", share_text(s['share_docs_matched']),
                   f"{s['matched_chars']:,} of {s['corpus_chars']:,}", share_text(s['share_chars_matched'])):
        assert number in text, number
    assert "Post side" in text and "Corpus side" in text and "Top matches" in text
    assert dom.stdout.count("<mark>") >= 10  # matched spans highlighted


WIDTHS = {"desktop": (1280, 2400), "phone": (390, 2400)}


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs Debian's chromium)")
@pytest.mark.parametrize("device", list(WIDTHS))
def test_screenshots_at_desktop_and_phone_widths(cli_index, report, tmp_path: Path, device: str) -> None:
    """The page with post texts, rendered at 1280 and 390 px: a real screenshot (a PNG of that width,
    not blank), and nothing wider than the window (wide tables scroll inside their own box)."""
    width, height = WIDTHS[device]
    page, _ = report
    out = page.parent / "out"
    texts = tmp_path / "texts.html"
    proc = run_cli_here("report", out, "-o", texts, "--posts", POSTS_CSV, "--id-field", "tweet_id")
    assert proc.returncode == 0, proc.stderr
    shot = tmp_path / f"{device}.png"
    proc = chromium(f"--window-size={width},{height}", "--hide-scrollbars", f"--screenshot={shot}", texts.as_uri())
    png = shot.read_bytes() if shot.is_file() else b""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", proc.stderr
    assert struct.unpack(">II", png[16:24]) == (width, height)  # IHDR: the window's size
    assert len(png) > 40_000  # text and charts, not an empty page (a blank one is a few KB)
    # nothing wider than the window: a script added to a copy of the page paints the page green when it
    # does not scroll sideways, red when it does, and logs to the console what sticks out. It measures once
    # the page has loaded and laid out (two animation frames after `load`) and again on every resize;
    # Chromium waits for it (virtual time) before the screenshot.
    probe = tmp_path / "probe.html"
    probe.write_text(texts.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    probe_shot = tmp_path / f"{device}-probe.png"
    proc = chromium("--virtual-time-budget=3000", f"--window-size={width},{height}", "--hide-scrollbars",
                    f"--screenshot={probe_shot}", probe.as_uri())
    if first_pixel(probe_shot.read_bytes()) != (0, 255, 0):
        wide = re.findall(r'"too wide: (.*)", source', proc.stderr)
        pytest.fail(f"the page is wider than {width} px: {wide[-1] if wide else 'the probe did not run'}")


PROBE = """<script>function probe() {
  var d = document.documentElement, wide = [], range = document.createRange(), walk, t, r;
  var inBox = function (e) { return e.parentElement && e.parentElement.closest(".scroll"); };  // scrolls in its box
  d.style.background = d.scrollWidth > d.clientWidth ? "rgb(255,0,0)" : "rgb(0,255,0)";
  if (d.scrollWidth <= d.clientWidth) return;
  document.querySelectorAll("body *").forEach(function (e) {
    r = e.getBoundingClientRect();
    if (r.right > d.clientWidth + 0.5 && !inBox(e)) wide.push(e.tagName + "." + e.className + " " + Math.round(r.right) + "px");
  });
  // a word that runs out of its box widens the page without widening any element
  walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while ((t = walk.nextNode())) {
    range.selectNodeContents(t);
    r = range.getBoundingClientRect();
    if (r.right > d.clientWidth + 0.5 && !inBox(t)) wide.push("text " + JSON.stringify(t.data.slice(0, 60)) + " " + Math.round(r.right) + "px");
  }
  console.log("too wide: " + d.scrollWidth + " > " + d.clientWidth + " px: " + wide.slice(0, 5).join(", "));
}
window.addEventListener("load", function () { requestAnimationFrame(function () { requestAnimationFrame(probe); }); });
window.addEventListener("resize", probe);</script>"""


def first_pixel(png: bytes) -> tuple[int, int, int]:
    """The colour of a PNG's top-left pixel. Its bytes are stored as they are whatever the row's
    filter, since the pixel has no left or upper neighbour (all filters then subtract zero)."""
    pos, idat = 8, b""
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"IDAT":
            idat += png[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompressobj().decompress(idat, 16)
    return tuple(raw[1:4])


def test_document_title_and_url_are_carried_to_the_report(cli_index, tmp_path: Path) -> None:
    """--doc-meta-field keeps a document's title and URL with each match (doc_meta) and the report shows them."""
    import gzip

    rows = [json.loads(line) for line in gzip.open(PLANTED, "rt", encoding="utf-8")][:60]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({**r, "title": f"Page <{i}>", "url": f"https://example.org/{i}"}) + "\n"
                              for i, r in enumerate(rows)), encoding="utf-8")
    out = tmp_path / "out"
    proc = run_cli_here("scan", cli_index.path, corpus, "-o", out, "-q", "--doc-meta-field", "title,url")
    assert proc.returncode == 0, proc.stderr
    import polars as pl

    m = pl.read_parquet(out / "matches.parquet")
    assert m.height > 5
    for r in m.iter_rows(named=True):
        i = int(r["row"]) - 1
        assert json.loads(r["doc_meta"]) == {"title": f"Page <{i}>", "url": f"https://example.org/{i}"}
    page = tmp_path / "r.html"
    assert run_cli_here("report", out, "-o", page).returncode == 0
    html = page.read_text(encoding="utf-8")
    assert "title: Page &lt;" in html and "url: https://example.org/" in html
    plain = tmp_path / "plain"
    assert run_cli_here("scan", cli_index.path, corpus, "-o", plain, "-q").returncode == 0
    assert pl.read_parquet(plain / "matches.parquet")["doc_meta"].null_count() == m.height
