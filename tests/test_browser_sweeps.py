"""Opening a sweep's result in the running app, in headless Chromium: the Phase diagram page draws an uploaded
results.parquet; another toy's result and a file that is not Parquet are refused in the page, which goes on."""

from __future__ import annotations

import pytest

from tests.browser import browser_page, exceptions_on, wait_idle
from tests.test_browser import ARTIFACTS, app_url  # noqa: F401  the running app, shared fixture
from toys.sweep.run import run_sweep
from toys.sweep.spec import parse_spec

pytestmark = pytest.mark.browser

PHASE = {"toy": "phase", "name": "tiny-phase", "config": {"n_importance": 5, "n_density": 4, "seeds": 1, "steps": 300}}
TMS = {"toy": "tms", "config": {"n_features": 5, "n_hidden": 2, "n_instances": 3, "steps": 100}}


def _result(spec, seeds, tmp) -> str:
    run_sweep(parse_spec(spec | {"seeds": seeds}), tmp, in_process=True, stream=None)
    return str(tmp / "results.parquet")


def _upload(page, path: str) -> None:
    expander = page.locator("[data-testid='stExpander']", has_text="Open a sweep result")
    if not expander.locator("input[type=file]").count():
        expander.get_by_text("Open a sweep result").click()
    expander.locator("input[type=file]").set_input_files(path)


def test_phase_page_opens_a_sweep_and_refuses_others(app_url, tmp_path):  # noqa: F811
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # only where the browser suite runs

    phase = _result(PHASE, 3, tmp_path / "phase")
    tms = _result(TMS, 1, tmp_path / "tms")
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all" * 10)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser_page(1400, 2000) as page:
        page.goto(f"{app_url}/phase")
        page.wait_for_selector("text=Open a sweep result", timeout=120_000)
        wait_idle(page)
        _upload(page, phase)
        page.wait_for_selector("text=60 instances from 3 of 3 shards", timeout=60_000)
        wait_idle(page)
        page.wait_for_selector("text=Agreement with the exact phases", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "page_phase_sweep.png"), full_page=True)
        for path, words in ((tms, "sweep of the 'tms' toy"), (str(junk), "not a Parquet file")):
            _upload(page, path)
            # The previous refusal stays on the page until the rerun replaces it, so wait for this file's own words.
            try:
                page.wait_for_function("w => document.body.innerText.includes(w)", arg=words, timeout=60_000)
            except PlaywrightTimeout:
                body = page.inner_text("body")
                raise AssertionError(f"no refusal naming {words!r}: " + body[body.find("This file") :][:300]) from None
            wait_idle(page)
            assert "This file was not opened" in page.inner_text("body")
        assert not exceptions_on(page)
