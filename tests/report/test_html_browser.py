"""``report.html`` in a real browser: headless Chromium driven over the DevTools protocol
(``--remote-debugging-pipe``, see :mod:`cdp_client`).

Checks that every section and every figure renders with a nonzero size, that the page logs no
console message or exception, that no request leaves the file (only ``file:`` and ``data:``
URLs), and that clicking a column header sorts the per-layer table; saves a full-page
screenshot. Chromium is Debian's ``chromium`` package (``.ci/run`` installs it); without it the
test is skipped locally and fails under ``CI=true``.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cdp_client import Browser, find_chromium

from cnnmem.report.html import SECTIONS


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not installed (CI=true): .ci/run installs it with apt-get")
        pytest.skip("chromium not installed (apt-get install chromium)")
    with Browser(binary, tmp_path_factory.mktemp("chromium-profile")) as b:
        yield b


class Page:
    """One tab with the Page, Runtime, Network and Log domains on, recording its events."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})
        self.session = browser.send("Target.attachToTarget",
                                    {"targetId": target["targetId"], "flatten": True}
                                    )["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        self.first_event = len(browser.events)

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session)

    def open(self, path: Path) -> None:
        self.first_event = len(self.browser.events)
        self.send("Page.navigate", {"url": path.resolve().as_uri()})
        self.browser.wait_event("Page.loadEventFired")
        # let late console messages and image decoding arrive
        self.evaluate("new Promise(r => setTimeout(r, 300))")

    def evaluate(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                               "returnByValue": True})
        if "exceptionDetails" in reply:
            raise AssertionError(f"page script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def events(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.browser.events[self.first_event:]
                if e.get("method") == method and e.get("sessionId") == self.session]

    def console_problems(self) -> list[str]:
        found = [f"console.{e['type']}: {[a.get('value') for a in e['args']]}"
                 for e in self.events("Runtime.consoleAPICalled")]
        found += [f"exception: {e['exceptionDetails'].get('text')}"
                  for e in self.events("Runtime.exceptionThrown")]
        found += [f"log {e['entry']['level']}: {e['entry']['text']}"
                  for e in self.events("Log.entryAdded")
                  if e["entry"]["level"] in ("error", "warning")]
        return found

    def outside_requests(self) -> list[str]:
        urls = [e["request"]["url"] for e in self.events("Network.requestWillBeSent")]
        return [u for u in urls if not u.startswith(("file:", "data:"))]


_MEASURE = """
(() => {
  const box = el => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
  const sections = Object.fromEntries([...document.querySelectorAll('main > section')]
      .map(s => [s.id, box(s)]));
  const figures = [...document.querySelectorAll('figure img, figure svg')].map(el => ({
      id: el.closest('figure').id, size: box(el), complete: el.complete !== false,
      natural: el.naturalWidth === undefined ? 1 : el.naturalWidth}));
  return {sections, figures, title: document.title,
          height: document.documentElement.scrollHeight};
})()
"""

_SORT = """
(() => {
  const table = document.getElementById('layers');
  const col = [...table.tHead.rows[0].cells].findIndex(th => th.textContent === 'live');
  const values = () => [...table.tBodies[0].rows].map(r => parseFloat(r.cells[col].dataset.v));
  table.tHead.rows[0].cells[col].click();
  const up = values();
  table.tHead.rows[0].cells[col].click();
  return {up, down: values()};
})()
"""


def test_report_renders_in_chromium(browser: Browser, blazeface_report: tuple[Path, int],
                                    tmp_path: Path) -> None:
    out, code = blazeface_report
    assert code == 0
    page = Page(browser)
    page.open(out / "report.html")
    assert page.console_problems() == []
    assert page.outside_requests() == []
    seen = page.evaluate(_MEASURE)
    assert seen["title"] == "cnnmem report: blazeface"
    assert list(seen["sections"]) == [sid for sid, _ in SECTIONS]
    for sid, (w, h) in seen["sections"].items():
        assert w > 0 and h > 50, f"section {sid} is empty ({w}x{h})"
    figures = seen["figures"]
    assert len(figures) == len(list(out.glob("*.png")))
    for fig in figures:
        assert fig["complete"] and fig["natural"] > 0, f"figure {fig['id']} did not decode"
        assert fig["size"][0] > 100 and fig["size"][1] > 100, f"figure {fig['id']} too small"
    # every figure of every section: each section with data has at least one
    assert {f["id"] for f in figures} >= {"fig-summary_arenas", "fig-layer_memory",
                                          "fig-live_memory", "fig-plan_footprints",
                                          "fig-restructure_live", "fig-pareto",
                                          "fig-requirements_tradeoff"}
    sorted_rows = page.evaluate(_SORT)
    assert sorted_rows["up"] == sorted(sorted_rows["up"])
    assert sorted_rows["down"] == sorted(sorted_rows["up"], reverse=True)
    assert page.console_problems() == []
    shot = page.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG")
    saved = tmp_path / "report.png"
    saved.write_bytes(png)
    print(f"screenshot: {saved} ({json.dumps(seen['height'])} px tall)")


def test_the_checks_catch_console_errors_and_outside_requests(browser: Browser,
                                                              tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                   '<img src="http://example.invalid/x.png">'
                   '<script>console.error("boom"); undefined_function();</script>'
                   "</body></html>")
    page = Page(browser)
    page.open(bad)
    problems = page.console_problems()
    assert any("boom" in p for p in problems)
    assert any(p.startswith("exception") for p in problems)
    assert page.outside_requests() == ["http://example.invalid/x.png"]
