"""Closed tabs are freed: the reaper shuts down sessions whose reconnect time ran out, and only those."""

from __future__ import annotations

import gc
import os
import sys
import time

import pytest

from tests.browser import browser_pages, chromium_path, exceptions_on, rss_mb, running_app, wait_idle
from tests.test_browser import _wait_for_step
from ui.sessions import release_to_os, sweep


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc")
def test_freed_heap_goes_back_to_the_system():
    """What the reaper frees comes back: 200 MiB of 64 KiB blocks (below glibc's mmap threshold, as a page's
    arrays are), every 16th kept so the heap cannot simply shrink from its top; after release_to_os the resident
    memory is back within the kept blocks (13.1 MB) and some slack."""
    base = rss_mb(os.getpid())
    blocks = [bytearray(64 * 1024) for _ in range(3200)]
    kept = blocks[::16]
    del blocks
    gc.collect()
    assert release_to_os()
    assert rss_mb(os.getpid()) - base < 13.1 + 40, (base, rss_mb(os.getpid()))
    assert len(kept) == 200


class _Cycle:
    def __init__(self):
        self.me = self
        self.payload = bytearray(8 * 2**20)


def test_a_sweep_collects_cyclic_garbage():
    """With Streamlit's post-run collection off, the reaper's sweep is what frees garbage in reference cycles."""
    import weakref

    gc.disable()
    try:
        ref = weakref.ref(_Cycle())
        assert ref() is not None  # a cycle: reference counting alone does not free it
        assert sweep() == 0  # no Streamlit runtime here: no sessions to free, the collection still runs
        assert ref() is None
    finally:
        gc.enable()


def test_the_server_runs_without_streamlit_s_post_run_collection():
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False


@pytest.mark.browser
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
