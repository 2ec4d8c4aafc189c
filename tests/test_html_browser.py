"""The HTML report in a real headless Chromium: no network request, no console error, a real picture.

How the browser is watched: Chromium is driven over the Chrome DevTools Protocol through
``--remote-debugging-pipe`` (file descriptors 3 and 4, NUL-separated JSON; the transport Puppeteer
and Playwright use).  This needs nothing beyond the standard library (no websocket client, no free
port to find, no race on a port file), and it reports what the page itself does:

* ``Network.requestWillBeSent`` for every request the page makes (the document itself, and any
  image, font, stylesheet or script it would fetch, whatever the scheme);
* ``Runtime.consoleAPICalled``, ``Runtime.exceptionThrown`` and ``Log.entryAdded`` (failed loads,
  Content-Security-Policy violations, parser errors) for console errors and warnings.

Browser-internal traffic (component updates, safe browsing) is not page traffic and is switched off
by the flags.  A control page that does fetch and does log an error proves that the harness sees
both.  The screenshot is ``Page.captureScreenshot`` of the whole page, the same renderer as
``--screenshot`` but the full length of the report.

Chromium: Debian's ``chromium`` package (listed in ``.ci/system-packages``).  Without it the tests
skip, except under CI (``CI=true``), where they fail.
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pytest

from test_html import compas_report, dogs_cats

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
         "--mute-audio", "--hide-scrollbars", "--remote-debugging-pipe"]
WIDTH, HEIGHT = 1280, 900
_LAUNCHER = ("import fcntl, os, sys\n"
             "a, b = (fcntl.fcntl(int(x), fcntl.F_DUPFD, 10) for x in sys.argv[1:3])\n"
             "os.dup2(a, 3)\nos.dup2(b, 4)\nos.execv(sys.argv[3], sys.argv[3:])")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("Chromium is required under CI: add 'chromium' to .ci/system-packages (apt).")
    pytest.skip("Chromium not installed (Debian: apt-get install chromium); the browser test needs it.")


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe."""

    def __init__(self, binary: str, profile: str):
        cmd_read, self._cmd = os.pipe()      # we write commands; Chromium reads fd 3
        self._res, res_write = os.pipe()     # Chromium writes fd 4; we read
        args = [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "about:blank"]
        # Chromium expects the pipe on fds 3 and 4: a tiny launcher moves them there, then execs it
        self.proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(cmd_read), str(res_write), *args],
                                     pass_fds=(cmd_read, res_write), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_read)
        os.close(res_write)
        self._buf, self._id, self.events = b"", 0, []

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._res], [], [], left)
            if ready:
                chunk = os.read(self._res, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe (did it start?)")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_for(self, method: str, session: str, timeout: float = 60) -> dict:
        seen = [e for e in self.events if e.get("method") == method and e.get("sessionId") == session]
        if seen:
            return seen[0]
        deadline = time.monotonic() + timeout
        while True:
            m = self._read(deadline)
            self.events.append(m)
            if m.get("method") == method and m.get("sessionId") == session:
                return m

    def settle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read(deadline))
        except TimeoutError:
            pass

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd)
        os.close(self._res)


def visit(path: Path, expression: str | None = None) -> dict:
    """Open ``path`` in headless Chromium; return requests, console problems, a screenshot and a value."""
    binary = chromium()
    with tempfile.TemporaryDirectory() as profile:
        dt = DevTools(binary, profile)
        try:
            target = dt.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = dt.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                dt.send(f"{domain}.enable", session=session)
            dt.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
            dt.wait_for("Page.loadEventFired", session)
            dt.settle(0.5)
            value = None
            if expression:
                value = dt.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                session=session)["result"].get("value")
            metrics = dt.send("Page.getLayoutMetrics", session=session)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            clip = {"x": 0, "y": 0, "width": WIDTH, "height": min(int(size["height"]), 16000), "scale": 1}
            shot = dt.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                      "clip": clip}, session=session)
        finally:
            dt.close()
    events = [e for e in dt.events if e.get("sessionId") == session]
    requests = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    problems = []
    for e in events:
        p = e.get("params", {})
        if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            problems.append(("console." + p["type"], json.dumps(p.get("args"))[:300]))
        elif e["method"] == "Runtime.exceptionThrown":
            problems.append(("exception", json.dumps(p.get("exceptionDetails"))[:300]))
        elif e["method"] == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
            problems.append((p["entry"]["level"], p["entry"].get("text", "")[:300]))
    return {"requests": requests, "problems": problems, "png": base64.b64decode(shot["data"]), "value": value}


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


def check_report_page(path: Path, n_findings: int, n_svg: int, shots: Path | None = None) -> None:
    js = ("JSON.stringify({findings: JSON.parse(document.getElementById('biasaudit-result').textContent)"
          ".findings.length, svg: [...document.querySelectorAll('svg')].filter(s => s.getBoundingClientRect()"
          ".width > 200).length, scroll: document.documentElement.scrollWidth, width: window.innerWidth})")
    seen = visit(path, js)
    assert seen["requests"] == [path.resolve().as_uri()], seen["requests"]
    assert seen["problems"] == [], seen["problems"]
    value = json.loads(seen["value"])
    assert value["findings"] == n_findings          # the embedded JSON parses in the browser too
    assert value["svg"] == n_svg                     # every plot is laid out at a readable width
    assert value["scroll"] <= value["width"]         # no horizontal scrolling at 1280 px
    width, height, distinct_rows = png_facts(seen["png"])
    assert width == WIDTH and height > 2000
    assert len(seen["png"]) > 50_000 and distinct_rows > 100  # a real page, not a blank one
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        (shots / (path.stem + ".png")).write_bytes(seen["png"])


def _shots_dir():
    d = os.environ.get("BIASAUDIT_SCREENSHOTS")
    return Path(d) if d else None


def test_harness_sees_requests_and_console_errors(tmp_path):
    """Control: a page that fetches and logs an error must be caught, or the real checks prove nothing."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png">'
                    '<link rel="stylesheet" href="https://example.invalid/a.css">'
                    '<script>console.error("boom"); undefined_function();</script></body></html>')
    seen = visit(page)
    assert "http://127.0.0.1:9/x.png" in seen["requests"]
    assert "https://example.invalid/a.css" in seen["requests"]
    kinds = {k for k, _ in seen["problems"]}
    assert {"console.error", "exception", "error"} <= kinds


def test_dogs_cats_report_in_chromium(tmp_path):
    result, html = dogs_cats()
    path = tmp_path / "dogs_cats.html"
    path.write_text(html, encoding="utf-8")
    check_report_page(path, len(result.findings), html.count("<svg"), _shots_dir())


def test_compas_report_in_chromium(tmp_path):
    result, html = compas_report()
    path = tmp_path / "compas.html"
    path.write_text(html, encoding="utf-8")
    check_report_page(path, len(result.findings), html.count("<svg"), _shots_dir())
