"""Headless Chromium driven over the DevTools protocol (``--remote-debugging-pipe``), stdlib only.

Used by ``reports/make_reports.py`` for the screenshots and by ``tests/test_html_browser.py``.
Chromium reads commands on file descriptor 3 and writes answers on 4 (NUL-separated JSON, the
transport Puppeteer and Playwright use): no websocket client, no port to find.  :class:`Page`
opens one file, records the page's own requests and console problems, runs expressions, clicks
(real mouse events at an element's centre) and takes screenshots.
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["DevTools", "Page", "find_chromium", "WIDTH", "HEIGHT"]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
         "--mute-audio", "--hide-scrollbars", "--remote-debugging-pipe"]
WIDTH, HEIGHT = 1280, 900
_LAUNCHER = ("import fcntl, os, sys\n"
             "a, b = (fcntl.fcntl(int(x), fcntl.F_DUPFD, 10) for x in sys.argv[1:3])\n"
             "os.dup2(a, 3)\nos.dup2(b, 4)\nos.execv(sys.argv[3], sys.argv[3:])")


def find_chromium() -> str | None:
    """The Chromium (or Chrome) binary on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


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



class Page:
    """One page in a fresh headless Chromium: ``with Page(path) as page: page.evaluate(...)``."""

    def __init__(self, path: Path, binary: str, *, width: int = WIDTH, height: int = HEIGHT):
        self.path, self.binary, self.width, self.height = Path(path), binary, width, height

    def __enter__(self) -> "Page":
        self._profile = tempfile.TemporaryDirectory()
        self.dt = DevTools(self.binary, self._profile.name)
        try:
            target = self.dt.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.dt.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.send(f"{domain}.enable")
            self.send("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                             "deviceScaleFactor": 1, "mobile": False})
            self.send("Page.navigate", {"url": self.path.resolve().as_uri()})
            self.dt.wait_for("Page.loadEventFired", self.session)
            self.dt.settle(0.5)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.dt.close()
        self._profile.cleanup()

    def send(self, method: str, params: dict | None = None) -> dict:
        return self.dt.send(method, params, session=self.session)

    def evaluate(self, expression: str):
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails'].get('text')}")
        return res["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the centre of the first element matching ``selector``."""
        box = self.evaluate("(function(){var e=document.querySelector(%s);e.scrollIntoView({block:'center'});"
                            "var r=e.getBoundingClientRect();return [r.x+r.width/2,r.y+r.height/2];})()"
                            % json.dumps(selector))
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1})
        self.dt.settle(0.2)

    def screenshot(self, *, full: bool = False, max_height: int = 16000) -> bytes:
        """PNG of the first screen (``full=False``) or of the whole page (up to ``max_height``)."""
        height = self.height
        if full:
            metrics = self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            height = min(int(size["height"]), max_height)
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full,
                                                    "clip": {"x": 0, "y": 0, "width": self.width,
                                                             "height": height, "scale": 1}})
        return base64.b64decode(shot["data"])

    def events(self) -> list:
        return [e for e in self.dt.events if e.get("sessionId") == self.session]

    def requests(self) -> list:
        return [e["params"]["request"]["url"] for e in self.events() if e["method"] == "Network.requestWillBeSent"]

    def problems(self) -> list:
        out = []
        for e in self.events():
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                out.append(("console." + p["type"], json.dumps(p.get("args"))[:300]))
            elif e["method"] == "Runtime.exceptionThrown":
                out.append(("exception", json.dumps(p.get("exceptionDetails"))[:300]))
            elif e["method"] == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
                out.append((p["entry"]["level"], p["entry"].get("text", "")[:300]))
        return out
