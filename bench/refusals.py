"""The governor against the links that took a shared server down: ``python -m bench refusals``.

Starts ``streamlit run app.py`` as deployed (default budgets) and opens, in Debian's Chromium, each link of issue 13
that reached 4–8 GB of server memory or ran for minutes on a 2-core machine. For each: seconds from ``goto`` to the
governor's refusal on the page, and the server's resident memory (VmRSS of ``/proc/<pid>/status``) before and after,
with its peak (VmHWM) at the end. MB = 10⁶ bytes.
"""

from __future__ import annotations

import sys
import time

from bench import run_cases
from tests.browser import browser_page, rss_mb, running_app, server_pid, wait_idle
from tests.test_app_governor import HOSTILE


def _refusal(page, timeout: float = 120.0) -> str:
    """The text of the first warning on the page that names a governor limit."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for alert in page.query_selector_all("[data-testid='stAlert']"):
            text = alert.inner_text()
            if "SUPERPOSITION_" in text:
                return text
        time.sleep(0.05)
    raise TimeoutError("no refusal shown")


def bench_refusals() -> dict:
    links = []
    with running_app(timeout=300) as url, browser_page() as page:
        pid = server_pid(url)
        page.goto(url)  # the first visit pays the imports; measured apart from the links
        wait_idle(page)
        start_rss = rss_mb(pid)
        for name, query, _keys in HOSTILE:
            before = rss_mb(pid)
            t0 = time.perf_counter()
            page.goto(f"{url}/{name}?{query}")
            text = _refusal(page)
            seconds = time.perf_counter() - t0
            wait_idle(page)
            links.append(
                {
                    "link": f"/{name}?{query}",
                    "refused_after_s": round(seconds, 2),
                    "rss_before_mb": before,
                    "rss_after_mb": rss_mb(pid),
                    "limit": next(w for w in text.split() if w.strip("().,").startswith("SUPERPOSITION_")).strip(
                        "().,"
                    ),
                }
            )
        peak = rss_mb(pid, "VmHWM")
    return {
        "bench": "refusals",
        "device": "cpu",
        "config": {"links": len(links), "budgets": "defaults"},
        "rss_after_home_mb": start_rss,
        "links": links,
        "slowest_refusal_s": max(x["refused_after_s"] for x in links),
        "rss_growth_mb": round(links[-1]["rss_after_mb"] - start_rss, 1),
        "vmhwm_mb": peak,
        "unit": "s, MB",
    }


CASES = {"refusals": bench_refusals}

if __name__ == "__main__":
    run_cases(CASES, sys.argv[1:])
