"""Export buttons: every chart as PNG/SVG (vl-convert) and its data as CSV; snapshots as .npz."""

from __future__ import annotations

import contextlib
import json

import altair as alt
import pandas as pd
import streamlit as st
import vl_convert as vlc

from charts.common import FIT_WIDTH
from toys import Snapshot

EXPORT_WIDTH = 640  # total width (px) of an exported chart that the page draws at the container's width


try:  # Streamlit switches altair's global data transformer while it draws a chart, under this lock
    from streamlit.elements.vega_charts import _altair_globals_lock as ALTAIR_LOCK
except ImportError:  # pragma: no cover - a Streamlit without it; pinned versions have it (tests/test_export.py)
    ALTAIR_LOCK = contextlib.nullcontext()


def chart_json(chart: alt.TopLevelMixin) -> str:
    """The chart's Vega-Lite JSON with its data inline. Charts carry DataFrames, converted by altair's global
    data transformer, which Streamlit swaps for its own while drawing any chart in any session; taking the same
    lock keeps an export from catching Streamlit's and losing its data."""
    if getattr(chart, "autosize", None) == FIT_WIDTH:  # drawn at the page's width: export at a page-like one
        chart = chart.properties(width=EXPORT_WIDTH)
    with ALTAIR_LOCK, alt.data_transformers.disable_max_rows():
        return chart.to_json()


def chart_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    return vlc.vegalite_to_png(chart_json(chart), scale=scale)


def chart_svg(chart: alt.TopLevelMixin) -> str:
    return vlc.vegalite_to_svg(chart_json(chart))


def export_row(name: str, chart: alt.TopLevelMixin, data: pd.DataFrame, key: str) -> None:
    """PNG, SVG and CSV download buttons for one chart; images are rendered only when clicked."""
    c1, c2, c3 = st.columns(3)
    c1.download_button(
        "PNG",
        lambda: chart_png(chart),
        f"{name}.png",
        "image/png",
        on_click="ignore",
        key=f"{key}_png",
        width="stretch",
    )
    c2.download_button(
        "SVG",
        lambda: chart_svg(chart),
        f"{name}.svg",
        "image/svg+xml",
        on_click="ignore",
        key=f"{key}_svg",
        width="stretch",
    )
    c3.download_button(
        "CSV",
        lambda: data.to_csv(index=False),
        f"{name}.csv",
        "text/csv",
        on_click="ignore",
        key=f"{key}_csv",
        width="stretch",
    )


def snapshot_buttons(snap: Snapshot, key: str) -> None:
    c1, c2 = st.columns(2)
    c1.download_button(
        "Snapshot (.npz)",
        snap.to_npz_bytes,
        f"{snap.toy}_step{snap.step}.npz",
        "application/octet-stream",
        on_click="ignore",
        key=f"{key}_npz",
        width="stretch",
    )
    c2.download_button(
        "Config (.json)",
        json.dumps(snap.config, indent=2),
        f"{snap.toy}_config.json",
        "application/json",
        on_click="ignore",
        key=f"{key}_json",
        width="stretch",
    )


def export_panel(snap: Snapshot, key: str, items: list[tuple], title: str = "Export") -> None:
    """An expander with the snapshot and config buttons, then one row per item.

    An item is (heading, name, chart, table): PNG, SVG and CSV of a chart under file and widget name ``name``; with
    chart None, the table alone as CSV. An empty heading draws no heading.
    """
    with st.expander(title):
        snapshot_buttons(snap, f"{key}_snap")
        for heading, name, chart, table in items:
            if heading:
                st.markdown(f"**{heading}**")
            if chart is None:
                st.download_button(
                    f"{heading or name} (CSV)",
                    table.to_csv(index=False),
                    f"{name}.csv",
                    "text/csv",
                    on_click="ignore",
                    key=f"{name}_csv",
                )
            else:
                export_row(name, chart, table, name)


def loss_and_summary_export(key: str, chart: alt.TopLevelMixin, losses: pd.DataFrame, summary: pd.DataFrame) -> None:
    """An expander exporting a loss chart (PNG, SVG, CSV) and a summary table (CSV), named ``{key}_loss`` and
    ``{key}_summary``."""
    with st.expander("Export loss and summary"):
        export_row(f"{key}_loss", chart, losses, f"{key}_loss")
        st.download_button(
            "Summary (CSV)",
            summary.to_csv(index=False),
            f"{key}_summary.csv",
            "text/csv",
            key=f"{key}_summary_csv",
            on_click="ignore",
        )
