"""The HTML report in a real headless Chromium: no network request, no console error, a working filter.

How the browser is watched: Chromium is driven over the Chrome DevTools Protocol through
``--remote-debugging-pipe`` (``reports/_chromium.py``: file descriptors 3 and 4, NUL-separated
JSON, the transport Puppeteer and Playwright use), and it reports what the page itself does:

* ``Network.requestWillBeSent`` for every request the page makes (the document itself, and any
  image, font, stylesheet or script it would fetch, whatever the scheme);
* ``Runtime.consoleAPICalled``, ``Runtime.exceptionThrown`` and ``Log.entryAdded`` (failed loads,
  Content-Security-Policy violations, parser errors) for console errors and warnings.

A control page that does fetch and does log an error proves that the harness sees both.  The
filter is exercised with real input events (``Input.dispatchMouseEvent`` on a checkbox,
``Input.insertText`` into the search box): what the page shows afterwards is read back from the
DOM and compared with counts computed from the audit result.

Chromium: Debian's ``chromium`` package (listed in ``.ci/system-packages``).  Without it the tests
skip, except under CI (``CI=true``), where they fail.
"""
from __future__ import annotations

import importlib.util
import json
import os
import struct
import zlib
from pathlib import Path

import pytest

from biasaudit.report import summary as S
from conftest import ROOT
from test_html import compas_report, dogs_cats

_spec = importlib.util.spec_from_file_location("biasaudit_reports_chromium", ROOT / "reports" / "_chromium.py")
chromium_lib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chromium_lib)
WIDTH, HEIGHT = chromium_lib.WIDTH, chromium_lib.HEIGHT

VISIBLE = ("[...document.querySelectorAll('#evidence .card, #evidence .kid')]"
           ".filter(e => !e.closest('[hidden]')).map(e => e.dataset.sev)")


def chromium() -> str:
    found = chromium_lib.find_chromium()
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("Chromium is required under CI: add 'chromium' to .ci/system-packages (apt).")
    pytest.skip("Chromium not installed (Debian: apt-get install chromium); the browser test needs it.")


def png_facts(data: bytes) -> tuple[int, int, int]:
    """Width, height and number of distinct row fingerprints of a PNG (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = len(raw) // height
    rows = {raw[i * stride + 1:(i + 1) * stride] for i in range(0, height, max(1, height // 400))}
    return width, height, len(rows)


def test_harness_sees_requests_and_console_errors(tmp_path):
    """Control: a page that fetches and logs an error must be caught, or the real checks prove nothing."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png">'
                    '<link rel="stylesheet" href="https://example.invalid/a.css">'
                    '<script>console.error("boom"); undefined_function();</script></body></html>')
    with chromium_lib.Page(page, chromium()) as p:
        p.dt.settle(0.5)
        requests, problems = p.requests(), p.problems()
    assert "http://127.0.0.1:9/x.png" in requests
    assert "https://example.invalid/a.css" in requests
    assert {"console.error", "exception", "error"} <= {k for k, _ in problems}


def test_harness_sees_a_script_the_policy_blocks(tmp_path):
    """Control: the report's CSP really blocks an inline script that is not the hashed filter."""
    _, html = dogs_cats()
    page = tmp_path / "tampered.html"
    page.write_text(html.replace("</body>", "<script>document.title='ran'</script></body>"), encoding="utf-8")
    with chromium_lib.Page(page, chromium()) as p:
        title = p.evaluate("document.title")
        problems = p.problems()
    assert title != "ran"
    assert any("Content Security Policy" in text for _, text in problems), problems


def check_report_page(path: Path, result, shots: Path | None = None) -> dict:
    vis = S.visible(result)
    with chromium_lib.Page(path, chromium()) as page:
        facts = json.loads(page.evaluate(
            "JSON.stringify({findings: JSON.parse(document.getElementById('biasaudit-result').textContent)"
            ".findings.length, scroll: document.documentElement.scrollWidth, width: window.innerWidth, "
            "evidence: document.getElementById('evidence').getBoundingClientRect().top + window.scrollY, "
            "shown: document.getElementById('shown').textContent})"))
        png = page.screenshot(full=True)
        requests, problems = page.requests(), page.problems()
    assert requests == [path.resolve().as_uri()], requests
    assert problems == [], problems
    assert facts["findings"] == len(result.findings)     # the embedded JSON parses in the browser too
    assert facts["scroll"] <= facts["width"]             # no horizontal scrolling at 1280 px
    n_default = sum(1 for f in vis if f.severity != "info")
    assert facts["shown"] == f"{n_default} of {len(vis)} findings shown"   # the filter script ran
    width, height, distinct_rows = png_facts(png)
    assert width == WIDTH and height > HEIGHT
    assert len(png) > 50_000 and distinct_rows > 100     # a real page, not a blank one
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        (shots / (path.stem + ".png")).write_bytes(png)
    return facts


def _shots_dir():
    d = os.environ.get("BIASAUDIT_SCREENSHOTS")
    return Path(d) if d else None


def test_dogs_cats_report_in_chromium(tmp_path):
    result, html = dogs_cats()
    path = tmp_path / "dogs_cats.html"
    path.write_text(html, encoding="utf-8")
    facts = check_report_page(path, result, _shots_dir())
    assert facts["evidence"] < 3 * HEIGHT        # the 14-row report: the summary fits in a few screens


def test_filter_clicks_and_search_change_what_is_shown(tmp_path):
    result, html = dogs_cats()
    path = tmp_path / "dogs_cats.html"
    path.write_text(html, encoding="utf-8")
    vis = S.visible(result)
    with chromium_lib.Page(path, chromium()) as page:
        before = page.evaluate(VISIBLE)
        page.click("#filters input[value=info]")                 # a real mouse click on the checkbox
        after_info = page.evaluate(VISIBLE)
        page.click("#filters input[value=weak-evidence]")
        after_weak = page.evaluate(VISIBLE)
        page.evaluate("document.querySelector('#filters input[name=q]').focus()")
        page.send("Input.insertText", {"text": "color=brown"})   # typed into the search box
        page.dt.settle(0.2)
        searched = page.evaluate("[...document.querySelectorAll('#evidence .card, #evidence .kid')]"
                                 ".filter(e => !e.closest('[hidden]')).map(e => [e.dataset.sev, "
                                 "e.textContent.toLowerCase().includes('color=brown')])")
        shown = page.evaluate("document.getElementById('shown').textContent")
        problems = page.problems()
    assert problems == []
    assert sorted(before) == sorted(f.severity for f in vis if f.severity != "info")
    assert sorted(after_info) == sorted(f.severity for f in vis)
    assert sorted(after_weak) == sorted(f.severity for f in vis if f.severity != "weak-evidence")
    matching = [sev for sev, hit in searched if hit]
    assert matching and "weak-evidence" not in matching
    assert all(hit for _, hit in searched) and len(searched) < len(after_weak)
    # each finding whose own sentence names color=brown is among those shown
    named = [f for f in vis if "color=brown" in f.message and f.severity != "weak-evidence"]
    assert len(named) <= len(searched)
    assert shown == f"{len(searched)} of {len(vis)} findings shown"


def test_summary_links_open_their_evidence_card(tmp_path):
    result, html = dogs_cats()
    path = tmp_path / "dogs_cats.html"
    path.write_text(html, encoding="utf-8")
    with chromium_lib.Page(path, chromium()) as page:
        target = page.evaluate("document.querySelector('#summary a[href^=\"#f\"]').getAttribute('href')")
        assert page.evaluate(f"document.querySelector('{target}').closest('details').open") is False
        page.click("#summary a[href^='#f']")
        opened = page.evaluate(f"document.querySelector('{target}').closest('details').open")
        hidden = page.evaluate(f"!!document.querySelector('{target}').closest('[hidden]')")
    assert opened is True and hidden is False


def test_compas_report_in_chromium(tmp_path):
    result, html = compas_report()
    path = tmp_path / "compas.html"
    path.write_text(html, encoding="utf-8")
    check_report_page(path, result, _shots_dir())
