"""The running app in a real browser: streamlit run + headless Debian Chromium through Playwright."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.browser import browser_page, browser_pages, chromium_path, exceptions_on, running_app, wait_idle
from ui.talk import DEMOS
from ui.talk_views import MAX_BUTTONS

pytestmark = pytest.mark.browser
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", Path(__file__).resolve().parents[1] / "artifacts"))


@pytest.fixture(scope="module")
def app_url():
    if chromium_path() is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with running_app() as url:
        yield url


def _wait_for_step(page, at_least: int, timeout: float = 90.0) -> int:
    """Wait until the status caption reports a step >= at_least; return that step."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for cap in page.query_selector_all("[data-testid='stCaptionContainer']"):
            text = cap.inner_text()
            if text.startswith("step "):
                step = int(text.split()[1].replace(",", ""))
                if step >= at_least:
                    return step
        time.sleep(0.5)
    raise AssertionError(f"training did not reach step {at_least}")


def test_deep_link_first_visit_goes_through_app(app_url):
    """The first visit to a fresh server is a deep link with parameters: app.py's navigation still runs it."""
    with browser_page() as page:
        page.goto(app_url + "/superposition?n_features=6&bogus=1")
        page.wait_for_selector("text=Device:", timeout=120_000)
        wait_idle(page)
        body = page.inner_text("body")
        assert "Home" in body and "Superposition" in body
        assert "bogus" in body  # the unknown URL parameter is named in a message
        assert not exceptions_on(page)


def test_a_click_while_the_library_loads_is_answered_at_once():
    """A fresh server's first visit waits seconds for torch under a note; a click on another page meanwhile is
    answered by that page's own note (the run gives way to it), not after the import, and the page then opens."""
    note = "[data-testid='stAlert']:has-text('Opening {}')"
    with running_app() as url, browser_page() as page:
        page.goto(url + "/superposition")
        page.wait_for_selector(note.format("Superposition"), timeout=120_000)
        page.locator("[data-testid='stSidebarNav'] a", has_text="Feature geometry").click()
        page.wait_for_selector(note.format("Feature geometry"), timeout=30_000)  # before the import ends
        page.wait_for_selector("h1:has-text('Feature geometry')", timeout=120_000)
        wait_idle(page)
        assert page.locator("[data-testid='stAlert']:has-text('Opening')").count() == 0
        assert not exceptions_on(page)


def test_play_draws_charts(app_url):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser_page(1400, 2400) as page:
        # a run long enough to still be training when checked again (the default 10,000 steps can finish between
        # two looks on a quiet machine: the shared run trains at thousands of steps a second)
        page.goto(app_url + "/superposition?steps=50000")
        page.wait_for_selector("text=Loss per instance", timeout=120_000)
        wait_idle(page)
        page.get_by_role("button", name="Play").click()
        step = _wait_for_step(page, 300)
        page.wait_for_selector("canvas, svg.marks", timeout=60_000)
        assert len(page.query_selector_all("[data-testid='stVegaLiteChart']")) >= 4
        later = _wait_for_step(page, step + 1)
        assert later > step  # still training: the fragment ticks
        page.screenshot(path=str(ARTIFACTS / "superposition.png"))
        page.get_by_role("button", name="Pause").click()
        assert not exceptions_on(page)


def test_two_tabs_train_independently(app_url):
    with browser_pages(2) as (a, b):
        a.goto(app_url + "/superposition?n_features=5")
        b.goto(app_url + "/superposition?n_features=9")
        for page in (a, b):
            page.wait_for_selector("text=Loss per instance", timeout=120_000)
            wait_idle(page)
            page.get_by_role("button", name="Play").click()
        _wait_for_step(a, 200)
        _wait_for_step(b, 200)
        assert not exceptions_on(a) and not exceptions_on(b)


PAGES = {  # URL path -> text that shows the page has drawn
    "": "Superposition Playground",
    "superposition": "Loss per instance",
    "absval": "Loss per instance",
    "computation": "Computation in superposition",
    "geometry": "Dimensions per feature",
    "phase": "Cells per phase",
    "clustering": "Circuit clustering",
    "cislab": "computed by naive",
    "decomposition": "Dictionary to inspect",
}


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_renders_and_steps(app_url, path):
    """Each page draws, takes one Step where it has one, shows a chart, and raises nothing; a screenshot is kept."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser_page(1400, 2000) as page:
        page.goto(f"{app_url}/{path}")
        page.wait_for_selector(f"text={PAGES[path]}", timeout=120_000)
        wait_idle(page)
        step = page.get_by_role("button", name=re.compile(r"Step \+\d+"))
        if step.count():
            step.first.click()
            _wait_for_step(page, 100)
            wait_idle(page)
            page.wait_for_selector("[data-testid='stVegaLiteChart']", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / f"page_{path or 'home'}.png"), full_page=True)
        assert not exceptions_on(page)


HOSTILE_LINKS = [
    # a backtick closes the code span the key used to sit in, then a phishing link
    "/superposition?n_features=1%60%20%5BYour%20session%20expired%20-%20log%20in%20again%5D(https://evil.example/phish)%20%60",
    # a link and an image that every visitor's browser would fetch, through a text control and the config's error
    "/superposition?p_values=%5BDownload%5D(https://evil.example/p)%20!%5Bi%5D(https://evil.example/t.png)",
    # a heading and a table through an unknown key
    "/phase?x%0A%23%20Hacked%0A=1",
]


@pytest.mark.parametrize("link", HOSTILE_LINKS)
def test_a_hostile_link_renders_no_markup(app_url, link):
    """Whatever a link carries is echoed as text: no link, image or heading of its own appears in the page, and no
    request leaves for the attacker's host."""
    with browser_page() as page:
        requested = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(app_url + link)
        page.wait_for_selector("text=Device:", timeout=120_000)
        alert = "[data-testid='stAlert'], [data-testid='stAlertContainer']"
        page.wait_for_selector(alert, timeout=120_000)  # times out (fails) if the bad parameter is not reported
        wait_idle(page)
        alerts = page.query_selector_all(alert)
        assert "evil.example" in page.inner_text("body") or "Hacked" in page.inner_text("body")  # shown as text
        assert not page.query_selector_all("a[href*='evil.example'], img[src*='evil.example']")
        for alert in alerts:
            assert not alert.query_selector_all("h1, h2, h3, h4, h5, h6, table, a, img")
        assert not [u for u in requested if urlparse(u).hostname == "evil.example"]
        assert not exceptions_on(page)


def _smallest_text(page) -> tuple[float, str]:
    """The smallest font size (px) of visible text in the page's main area, on screen, and that text."""
    return page.evaluate(
        """() => {
          let least = Infinity, which = "";
          const main = document.querySelector("[data-testid='stMain']");
          const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
          while (walker.nextNode()) {
            const node = walker.currentNode, el = node.parentElement;
            if (!node.textContent.trim() || !el || el.closest("[data-testid='stExpander']")) continue;
            const box = el.getBoundingClientRect();
            if (box.width === 0 || box.height === 0 || getComputedStyle(el).visibility === "hidden") continue;
            if (box.bottom < 0 || box.top > innerHeight) continue;  // what the projector shows
            const px = parseFloat(getComputedStyle(el).fontSize);
            if (px < least) { least = px; which = node.textContent.trim().slice(0, 60) + " <" + el.tagName + " " +
              (el.closest("[data-testid]") || el).getAttribute("data-testid") + ">"; }
          }
          return [least, which];
        }"""
    )


TALK_MIN_CHART_PX = 800


def _clipped_controls(page) -> list[str]:
    """The visible buttons and sliders of the main area that stick out of the viewport or out of an ancestor that
    clips its content (overflow other than visible): a control the speaker cannot see or reach."""
    return page.evaluate(
        """() => {
          const out = [];
          const controls = document.querySelectorAll(
            "[data-testid='stMain'] button, [data-testid='stMain'] [data-testid='stSlider']");
          for (const el of controls) {
            const r = el.getBoundingClientRect();
            if (r.width === 0 || r.height === 0) continue;
            let bad = r.left < -0.5 || r.right > window.innerWidth + 0.5;
            for (let a = el.parentElement; a && !bad; a = a.parentElement) {
              const st = getComputedStyle(a);
              if (st.overflowX === "visible") continue;
              const b = a.getBoundingClientRect();
              bad = r.left < b.left - 0.5 || r.right > b.right + 0.5;
            }
            if (bad) out.push((el.innerText || el.getAttribute("aria-label") || el.dataset.testid).slice(0, 40));
          }
          return out;
        }"""
    )


def _assert_on_screen(chart, width: int = 1280, height: int = 720) -> None:
    """The chart element, legends included, lies whole inside the window: nothing to scroll to."""
    box = chart.bounding_box()
    assert box["y"] + box["height"] <= height + 1, (
        f"the chart ends at {box['y'] + box['height']:.0f} px, under the fold"
    )
    assert box["x"] + box["width"] <= width + 1, f"the chart ends at {box['x'] + box['width']:.0f} px, off the right"


TALK_LINKS = [(d.slug, d.url) for d in DEMOS] + [(f"{p}-defaults", f"/{p}?talk=1") for p in PAGES if p]


@pytest.mark.parametrize(("slug", "link"), [pytest.param(s, u, id=s) for s, u in TALK_LINKS])
def test_talk_mode_at_1280x720(app_url, slug, link):
    """Every demo's talk link, and every page's talk mode with its defaults, at 1280×720 (also inside an iframe's
    ?embed=true): no sidebar, Play pressed by itself, a main chart at least 800 px wide and whole on the screen (its
    legend too), no visible text under 24 px, and no control out of reach; screenshots are kept."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser_page(1280, 720) as page:
        page.goto(f"{app_url}{link}&embed=true")
        page.get_by_role("button", name="Pause").wait_for(timeout=180_000)  # playing on load
        chart = page.locator("[data-testid='stMain'] [data-testid='stVegaLiteChart']").last
        chart.wait_for(timeout=180_000)
        _wait_for_step(page, 1, timeout=180)
        time.sleep(2)
        page.screenshot(path=str(ARTIFACTS / f"talk_{slug}.png"))
        assert not exceptions_on(page)
        sidebar = page.locator("[data-testid='stSidebar']")
        assert sidebar.count() == 0 or not sidebar.first.is_visible()
        assert chart.bounding_box()["width"] >= TALK_MIN_CHART_PX
        _assert_on_screen(chart)
        px, text = _smallest_text(page)
        assert px >= 24, text
        assert not _clipped_controls(page)


def test_talk_clustering_result_fits_at_1280x720(app_url):
    """The clustering demo once its pipeline is done: the co-activation heatmap and the contingency table, whole on
    a 720-high screen (the analysis's timing box pushed them under the fold)."""
    demo = next(d for d in DEMOS if d.page == "clustering")
    with browser_page(1280, 720) as page:
        page.goto(f"{app_url}{demo.url}")
        page.wait_for_function("() => document.body.innerText.includes('clusters found')", timeout=300_000)
        wait_idle(page)
        _assert_on_screen(page.locator("[data-testid='stMain'] [data-testid='stVegaLiteChart']").last)
        assert not _clipped_controls(page)
        assert not exceptions_on(page)


@pytest.mark.parametrize("n_instances", [6, 10, 40])
def test_talk_instance_picker_fits_at_1280x720(app_url, n_instances):
    """The talk-mode instance picker beside the step counter: buttons while they fit, a slider beyond; every
    option reachable (ten buttons once ran off the row's left edge)."""
    with browser_page(1280, 720) as page:
        page.goto(f"{app_url}/superposition?talk=1&n_instances={n_instances}")
        page.get_by_role("button", name="Pause").wait_for(timeout=180_000)
        _wait_for_step(page, 1, timeout=180)
        assert not _clipped_controls(page)
        main = page.locator("[data-testid='stMain']")
        buttons = main.locator("[data-testid='stButtonGroup'] button", has_text=re.compile(r"^#\d+$"))
        sliders = main.locator("[data-testid='stSlider']")
        if n_instances <= MAX_BUTTONS:
            assert (buttons.count(), sliders.count()) == (n_instances, 0)
        else:
            assert (buttons.count(), sliders.count()) == (0, 1)
        assert not exceptions_on(page)
