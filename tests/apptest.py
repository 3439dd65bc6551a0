"""Running one page of the app under Streamlit's AppTest, with URL parameters."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def run_page(name: str, query: dict | None = None, timeout: float = 180) -> AppTest:
    """Run ``pages/{name}.py`` once with ``query`` as its URL parameters; the AppTest, ready to drive."""
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=timeout)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()
