"""Keep app.py in charge of navigation when a page is opened directly."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_app_navigation() -> None:
    """Hand the run back to app.py if Streamlit ran this page on its own.

    Until some run has called ``st.navigation``, Streamlit treats a ``pages/`` folder beside the entry script as
    an old-style multipage app: when the very first visit to a fresh server is a deep link (``/superposition``),
    it runs the page file alone, without app.py's navigation, sidebar and page config. Clearing that flag and
    rerunning makes this and every later run go through app.py.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
