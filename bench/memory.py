"""Memory per visitor, measured on the real server: ``python -m bench memory``.

Goal: one session visiting every page adds at most 250 MB to the server's resident memory, and the memory of a
closed session returns within 60 s (``server.disconnectedSessionTTL`` = 30 s, then ``ui.sessions``' reaper, every
10 s).

Starts ``streamlit run app.py`` as deployed (background kernel compilation on) and drives Debian's Chromium: a
visitor opens every page in turn (Home, Superposition, Absolute value, Computation, Feature geometry, Phase diagram,
Circuit clustering), waits for each to finish its run, presses each trainer's Step once (every tab's), and closes
its tab; the server's VmRSS (``/proc/<pid>/status``) is read before and after each page and every 5 s for 90 s after
the close. Then a second visitor does the same: the first paid the one-time costs (imports, the numba kernels
loaded from their cache, Streamlit's caches), so ``visitor2_added_mb`` is what one more visitor costs. A third
visitor follows: ``left_after_close_mb`` (what each visit left in RSS 90 s after its close) tells a plateau — heap
glibc keeps for reuse, caches filled once — from a leak, which would leave the same again each time.

Reported (MB = 10⁶ bytes): RSS at start, after each visitor and each page (``pages``: RSS after the page and its
increment over the page before), the lowest RSS within 60 s and 90 s of each close (``returned_*``: how much of
what the visitor added came back), when the server logged the session freed, and the peak (VmHWM).
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

from bench import run_cases
from tests.browser import (
    browser_pages,
    chromium_path,
    exceptions_on,
    proc_status,
    processes,
    rss_mb,
    running_app,
    server_pid,
    wait_idle,
)
from tests.test_browser import PAGES

POLL_S = 5.0
AFTER_CLOSE_S = 90.0
GOAL_MB = 250.0
NAV = {  # URL path -> (its title in the sidebar's navigation (app.py), its heading)
    "": ("Home", "Superposition Playground"),
    "superposition": ("Superposition", "Superposition"),
    "absval": ("Absolute value", "Absolute value and relatives"),
    "computation": ("Computation", "Computation in superposition"),
    "geometry": ("Feature geometry", "Feature geometry"),
    "phase": ("Phase diagram", "Phase diagram"),
    "clustering": ("Circuit clustering", "Circuit clustering"),
    "cislab": ("CIS lab", "CIS lab"),
    "decomposition": ("Decomposition", "Decomposition"),
}


def _children_compiling(pid: int) -> bool:
    """Whether the server's background compiler (``python -m fastcore.warm``, a child process) still runs."""
    return any(proc_status(child).get("PPid") == str(pid) for child, _ in processes(b"fastcore.warm"))


_STEP_CAPTIONS = """() => [...document.querySelectorAll("[data-testid='stCaptionContainer']")]
    .map(c => c.innerText).filter(t => /^step [\\d,]+ \\//.test(t)).join("|")"""


def _step_every_trainer(page, timeout_ms: int = 600_000) -> int:
    """Press each trainer's Step once (on every tab of the page); returns how many were pressed. A press counts
    once some trainer's "step N / M" caption changes (a trainer may already be past step 0, e.g. a shared run)."""
    tabs = page.get_by_role("tab")
    pressed = 0
    for t in range(max(1, tabs.count())):
        if tabs.count():
            tabs.nth(t).click()
            wait_idle(page, timeout_ms)
        buttons = page.get_by_role("button", name=re.compile(r"Step \+\d+"))
        for i in range(buttons.count()):
            if not buttons.nth(i).is_visible():
                continue
            shown = page.evaluate(_STEP_CAPTIONS)
            buttons.nth(i).click()
            page.wait_for_function(f"s => ({_STEP_CAPTIONS})() !== s", arg=shown, timeout=timeout_ms)
            wait_idle(page, timeout_ms)
            pressed += 1
    return pressed


def _visit(page, url: str, pid: int) -> list[dict]:
    """Every page in turn, in one session (the first opened by its URL, the others through the sidebar's
    navigation, as a visitor clicks: a new URL would be a new session), each idle and stepped; the server's RSS
    after each."""
    rows, last = [], rss_mb(pid)
    for path, drawn in PAGES.items():
        t0 = time.perf_counter()
        if not rows:
            page.goto(f"{url}/{path}")
        else:
            page.locator("[data-testid='stSidebarNav'] a", has_text=NAV[path][0]).first.click()
        page.wait_for_function(  # the new page's heading: the old page's text may still be there a moment
            "t => [...document.querySelectorAll('h1')].some(h => h.textContent.trim() === t)",
            arg=NAV[path][1],
            timeout=600_000,
        )
        page.wait_for_selector(f"text={drawn}", timeout=600_000)
        wait_idle(page, 600_000)
        if path == "geometry":  # the polytope view, once its numba kernel is there
            page.wait_for_selector("text=grouped by polytope", timeout=600_000)
            wait_idle(page, 600_000)
        stepped = _step_every_trainer(page)
        errors = exceptions_on(page) + [
            e.inner_text() for e in page.query_selector_all("[data-testid='stAlertContentError']")
        ]
        rss = rss_mb(pid)
        rows.append(
            {
                "page": path or "home",
                "rss_mb": rss,
                "added_mb": round(rss - last, 1),
                "steps_pressed": stepped,
                "s": round(time.perf_counter() - t0, 1),
                **({"errors": errors} if errors else {}),
            }
        )
        last = rss
    return rows


def _after_close(pid: int, log: Path, closed: float) -> dict:
    """RSS every POLL_S for AFTER_CLOSE_S after a close; when the server said it freed the session."""
    freed_before = log.read_text().count("closed session")
    polls, freed_s = [], None
    while (elapsed := time.time() - closed) < AFTER_CLOSE_S:
        if freed_s is None and log.read_text().count("closed session") > freed_before:
            freed_s = round(elapsed, 1)
        polls.append((round(elapsed, 1), rss_mb(pid)))
        time.sleep(POLL_S)
    return {
        "polls": polls,
        "min_60s_mb": min(r for t, r in polls if t <= 60),
        "min_90s_mb": min(r for _, r in polls),
        "freed_logged_after_s": freed_s,
    }


def bench_memory() -> dict:
    if chromium_path() is None:
        raise SystemExit("Debian's chromium is needed: apt-get install chromium")
    log = Path(tempfile.mkdtemp(prefix="bench_memory_")) / "server.log"
    out: dict = {"bench": "memory", "goal_mb": GOAL_MB}
    with running_app(timeout=300, log_path=log) as url, browser_pages(3) as visitors:
        pid = server_pid(url)
        out["start_mb"] = rss_mb(pid)
        for n, page in enumerate(visitors, 1):
            before = rss_mb(pid)
            pages = _visit(page, url, pid)
            if n == 1:  # the kernels the background compiler hands over are loaded into the server: wait for them
                while _children_compiling(pid):
                    time.sleep(1)
                time.sleep(2)
            after = rss_mb(pid)
            page.context.close()
            closed = time.time()
            gone = _after_close(pid, log, closed)
            out[f"visitor{n}"] = {
                "before_mb": before,
                "after_mb": after,
                "added_mb": round(after - before, 1),
                "pages": pages,
                "min_60s_after_close_mb": gone["min_60s_mb"],
                "min_90s_after_close_mb": gone["min_90s_mb"],
                "returned_60s_mb": round(after - gone["min_60s_mb"], 1),
                "returned_90s_mb": round(after - gone["min_90s_mb"], 1),
                "freed_logged_after_s": gone["freed_logged_after_s"],
                "polls_after_close": gone["polls"],
            }
        out["peak_vmhwm_mb"] = rss_mb(pid, "VmHWM")
        out["end_mb"] = rss_mb(pid)
        text = log.read_text()
        out["server_tracebacks"] = text.count("Traceback")
    v2 = out["visitor2"]
    out["visitor2_added_mb"] = v2["added_mb"]
    out["visitor2_within_goal"] = v2["added_mb"] <= GOAL_MB
    out["visitor2_returned_share_60s"] = (
        round(v2["returned_60s_mb"] / v2["added_mb"], 2) if v2["added_mb"] > 0 else None
    )
    # a third visitor tells a plateau (caches, heap kept for reuse) from a leak: what each visit leaves behind
    out["left_after_close_mb"] = [
        round(out[f"visitor{n}"]["min_90s_after_close_mb"] - out[f"visitor{n}"]["before_mb"], 1) for n in (1, 2, 3)
    ]
    out["unit"] = "MB"
    return out


RETURN_PAGE = "/absval?abs_n_features=100&abs_n_hidden=40&abs_n_instances=6&abs_batch_size=4096"  # torch autograd: 113 MB estimated


def bench_memory_return() -> dict:
    """One visitor, one bigger model: how much of what their session added comes back after the tab closes.
    The server first loads the page once with its defaults (the one-time imports), then the visitor opens
    ``RETURN_PAGE``, trains 20 s and closes the tab; RSS every 5 s for 90 s after."""
    if chromium_path() is None:
        raise SystemExit("Debian's chromium is needed: apt-get install chromium")
    log = Path(tempfile.mkdtemp(prefix="bench_memory_")) / "server.log"
    with running_app(timeout=300, log_path=log) as url, browser_pages(2) as (first, visitor):
        pid = server_pid(url)
        first.goto(f"{url}/absval")
        first.get_by_role("button", name="Play").wait_for(timeout=300_000)
        wait_idle(first, 300_000)
        first.context.close()
        time.sleep(60)  # that session freed too: what is left is the server's
        before = rss_mb(pid)
        visitor.goto(url + RETURN_PAGE)
        visitor.get_by_role("button", name="Play").wait_for(timeout=300_000)
        wait_idle(visitor, 300_000)
        visitor.get_by_role("button", name="Play").click()
        time.sleep(20)
        peak_session = rss_mb(pid)
        visitor.context.close()
        gone = _after_close(pid, log, time.time())
        errors = log.read_text().count("Traceback")
    added = round(peak_session - before, 1)
    return {
        "bench": "memory_return",
        "page": RETURN_PAGE,
        "before_mb": before,
        "with_session_mb": peak_session,
        "added_mb": added,
        "min_60s_after_close_mb": gone["min_60s_mb"],
        "returned_60s_mb": round(peak_session - gone["min_60s_mb"], 1),
        "returned_share_60s": round((peak_session - gone["min_60s_mb"]) / added, 2) if added > 0 else None,
        "freed_logged_after_s": gone["freed_logged_after_s"],
        "polls_after_close": gone["polls"],
        "server_tracebacks": errors,
        "unit": "MB",
    }


CASES = {"memory": bench_memory, "memory_return": bench_memory_return}

if __name__ == "__main__":
    run_cases(CASES, sys.argv[1:])
