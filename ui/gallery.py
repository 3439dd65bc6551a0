"""The gallery on Home: one card per demo of ``ui.talk.DEMOS``, its thumbnail (the demo's talk chart, rendered by
``docs/gallery/make.py`` from the real page) and a link that opens it in talk mode."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.talk import DEMOS

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = 4


def gallery() -> None:
    """The demos as cards, ``COLUMNS`` to a row."""
    for start in range(0, len(DEMOS), COLUMNS):
        for column, demo in zip(st.columns(COLUMNS), DEMOS[start : start + COLUMNS]):
            with column.container(border=True):
                thumbnail = ROOT / demo.thumbnail
                if thumbnail.is_file():
                    st.image(str(thumbnail), width="stretch")
                st.markdown(f"**{demo.title}**")
                st.caption(demo.look_for)
                st.page_link(
                    f"pages/{demo.page}.py",
                    label="Open in talk mode",
                    icon=":material/slideshow:",
                    query_params=demo.query,
                )
