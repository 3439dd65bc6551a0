"""Render the gallery's thumbnails from the real pages: ``python docs/gallery/make.py [slug ...]``.

Starts the app (``tests.browser.running_app``, as deployed), opens every demo of ``ui.talk.DEMOS`` in talk mode in
headless Chromium at 1280×720, lets it train until its run is done or ``TRAIN_S`` seconds have passed, and saves a
screenshot of its talk chart as ``docs/gallery/<slug>.png``. Prints one JSON line per demo: the step it was taken
at and the seconds it trained.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.browser import browser_pages, chromium_path, running_app, wait_idle
from ui.talk import DEMOS

TRAIN_S = 90.0
CHART = "[data-testid='stMain'] [data-testid='stVegaLiteChart']"


def _step(page) -> tuple[int, bool]:
    """The step the caption shows and whether the run is done."""
    for cap in page.query_selector_all("[data-testid='stCaptionContainer']"):
        m = re.match(r"step ([\d,]+) / [\d,]+ · (\w+)", cap.inner_text())
        if m:
            return int(m.group(1).replace(",", "")), m.group(2) == "done"
    return 0, False


def main(slugs: list[str]) -> None:
    if chromium_path() is None:
        raise SystemExit("Debian's chromium is needed: apt-get install chromium")
    demos = [d for d in DEMOS if not slugs or d.slug in slugs]
    with running_app(timeout=300) as url, browser_pages(1, width=1280, height=720) as (page,):
        for demo in demos:
            page.goto(url + demo.url)
            page.wait_for_selector(CHART, timeout=300_000)
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < TRAIN_S and not _step(page)[1]:
                time.sleep(2)
            page.get_by_role("button", name="Pause").click() if page.get_by_role(
                "button", name="Pause"
            ).count() else None
            wait_idle(page, 300_000)
            time.sleep(1)
            step, done = _step(page)
            page.locator(CHART).last.screenshot(path=str(ROOT / demo.thumbnail))
            print(
                json.dumps(
                    {"demo": demo.slug, "step": step, "done": done, "trained_s": round(time.perf_counter() - t0)}
                )
            )


if __name__ == "__main__":
    main(sys.argv[1:])
