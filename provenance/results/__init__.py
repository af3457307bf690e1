"""The results stage: what a scan keeps, writes and hands on, and the reports made from it.

* :mod:`.estimate` — the scan's running tally, counts and shares, with sampling intervals;
* :mod:`.outputs` — ``matches.parquet`` and ``summary.json`` written atomically; the matches that
  count and the generic ones;
* :mod:`.table` — the terminal table of a scan;
* :mod:`.checkpoint` — each input file's results kept as it is done, for ``--resume``;
* :mod:`.evidence` — ``evidence.json`` and ``provenance verify``;
* the two-sided report (``provenance report``): :mod:`.report_data` gathers what it shows (the tables
  of :mod:`.tables`, the posts' texts and their differences from :mod:`.texts`), :mod:`.headline`
  says it in words, :mod:`.report_markdown` writes it in Markdown and :mod:`.report_html` as one
  HTML page with the SVG charts of :mod:`.charts`.

Import from the modules themselves (this package imports nothing, so that a module of it costs only
its own imports).
"""
