"""Closed tabs are freed: the reaper shuts down sessions whose reconnect time ran out, and only those."""

from __future__ import annotations

import time

import pytest

from tests.browser import browser_pages, chromium_path, exceptions_on, running_app, wait_idle
from tests.test_browser import _wait_for_step

pytestmark = pytest.mark.browser


def test_a_closed_tab_is_freed_within_a_minute_and_an_open_one_trains_on(tmp_path):
    if chromium_path() is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    log = tmp_path / "server.log"
    with running_app(log_path=log) as url, browser_pages(2) as (leaving, staying):
        for page in (leaving, staying):
            page.goto(url + "/superposition")
            page.get_by_role("button", name="Play").wait_for(timeout=120_000)
            wait_idle(page)
            page.get_by_role("button", name="Play").click()
            _wait_for_step(page, 200)
        kept = _wait_for_step(staying, 1)
        leaving.context.close()
        closed = time.time()
        while time.time() - closed < 70 and "freed 1 closed session" not in log.read_text():
            time.sleep(1)
        assert "freed 1 closed session" in log.read_text(), log.read_text()[-2000:]
        assert time.time() - closed < 60 + 10  # TTL 30 s + one reaper period, with room for a slow machine
        assert _wait_for_step(staying, kept) >= kept  # the open tab kept its model and trained on (or finished)
        assert not exceptions_on(staying)
        assert "Traceback" not in log.read_text()
