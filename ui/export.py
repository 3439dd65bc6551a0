"""Export buttons: every chart as PNG/SVG (vl-convert) and its data as CSV; a trained model as safetensors + JSON
(``toys.core.saved``, which ``ui.upload`` loads back) and its snapshot as .npz.

Every file is produced when its button is clicked (Streamlit runs the callable then, on a thread of its own), so the
buttons stay while training plays, each tick's buttons holding that tick's snapshot. File names carry the page, the
model's key config values and the step (``superposition_tms_norms_f5_h2_i4_step3000.png``).
"""

from __future__ import annotations

import contextlib

import altair as alt
import pandas as pd
import streamlit as st
import vl_convert as vlc

from charts.common import FIT_WIDTH
from toys import Snapshot
from toys.core.saved import CONFIG_SUFFIX, SUFFIX, config_json, model_name, weights_bytes

EXPORT_WIDTH = 640  # total width (px) of an exported chart that the page draws at the container's width
PAGES = {  # the file-name prefix of each model slot (ui.live's key): its page, and the part of it
    "tms": "superposition",
    "geo": "geometry",
    "phase": "phase",
    "abs": "absval",
    "cc": "computation",
    "cc_sweep": "computation_sweep",
    "uand": "computation",
    "clu": "clustering",
    "sae": "decomposition",
    "deep": "cislab",
}


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


def page_of(key: str) -> str:
    """The page prefix of a slot key, or of a variant's key (``tms_a`` -> superposition)."""
    while key and key not in PAGES:
        key = key.rpartition("_")[0]
    return PAGES.get(key, "")


def file_stem(snap: Snapshot, name: str, key: str) -> str:
    """``{page}_{name}_{key config values}_step{n}``: a chart's or table's file name without suffix."""
    tag = model_name(snap).removeprefix(snap.toy).lstrip("_")
    return "_".join(p for p in (page_of(key), name, tag) if p)


def model_buttons(snap: Snapshot, key: str) -> None:
    """The model as safetensors weights and its JSON config, named ``{page}_{toy}_{values}_step{n}``; what the
    page's uploader (``ui.upload``) loads back."""
    stem = model_name(snap, page_of(key))
    c1, c2 = st.columns(2)
    c1.download_button(
        f"Weights ({SUFFIX})",
        lambda: weights_bytes(snap),
        stem + SUFFIX,
        "application/octet-stream",
        on_click="ignore",
        key=f"{key}_model_weights",
        width="stretch",
    )
    c2.download_button(
        f"Config ({CONFIG_SUFFIX})",
        lambda: config_json(snap, key),
        stem + CONFIG_SUFFIX,
        "application/json",
        on_click="ignore",
        key=f"{key}_model_config",
        width="stretch",
    )
    st.caption(f"{stem}{SUFFIX} and {stem}{CONFIG_SUFFIX}: load both back below, or with toys.load_model.")


def export_row(name: str, chart: alt.TopLevelMixin, data: pd.DataFrame, key: str) -> None:
    """PNG, SVG and CSV download buttons for one chart under file name ``name``; files are made only when clicked."""
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
    st.download_button(
        "Snapshot (.npz)",
        snap.to_npz_bytes,
        f"{model_name(snap, page_of(key))}.npz",
        "application/octet-stream",
        on_click="ignore",
        key=f"{key}_npz",
    )


def export_panel(snap: Snapshot, key: str, items: list[tuple], title: str = "Export") -> None:
    """An expander with the snapshot and config buttons, then one row per item.

    An item is (heading, name, chart, table): PNG, SVG and CSV of a chart under widget name ``name`` and file name
    ``file_stem(snap, name, key)``; with chart None, the table alone as CSV. An empty heading draws no heading.
    """
    with st.expander(title):
        snapshot_buttons(snap, f"{key}_snap")
        for heading, name, chart, table in items:
            if heading:
                st.markdown(f"**{heading}**")
            if chart is None:
                st.download_button(
                    f"{heading or name} (CSV)",
                    lambda table=table: table.to_csv(index=False),
                    f"{file_stem(snap, name, key)}.csv",
                    "text/csv",
                    on_click="ignore",
                    key=f"{name}_csv",
                )
            else:
                export_row(file_stem(snap, name, key), chart, table, name)


def loss_and_summary_export(
    key: str, chart: alt.TopLevelMixin, losses: pd.DataFrame, summary: pd.DataFrame, snap: Snapshot | None = None
) -> None:
    """An expander exporting a loss chart (PNG, SVG, CSV) and a summary table (CSV), widgets named ``{key}_loss`` and
    ``{key}_summary``; files named after ``snap`` (page, config values, step) when given."""
    stem = (lambda name: file_stem(snap, name, key)) if snap is not None else (lambda name: name)
    with st.expander("Export loss and summary"):
        export_row(stem(f"{key}_loss"), chart, losses, f"{key}_loss")
        st.download_button(
            "Summary (CSV)",
            lambda: summary.to_csv(index=False),
            f"{stem(f'{key}_summary')}.csv",
            "text/csv",
            key=f"{key}_summary_csv",
            on_click="ignore",
        )
