"""Charts at projector size: talk mode's one view per page and the gallery's thumbnails.

``for_talk`` sets every text of a chart to at least ``FONT`` pixels and lifts the limits that would truncate a
label; the builders here draw one instance of a toy large (fixed sizes, so a thumbnail and the page agree).
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from charts.common import chart_data
from charts.tms import SUPERPOSITION_SCALE, wtw_panel

FONT = 24  # pixels: the smallest text of a talk chart, readable at 1280×720 from the back of a room
TALK_H = 280  # pixels: the plot height of a talk chart with a legend or title above it, at 720 high
PAD = alt.AutoSizeParams(type="pad")
PLOT = 300  # pixels: side of a talk chart's square plot, what fits under the title at 720 high


def _bigger_marks(chart) -> None:
    """Text marks of ``chart`` and of every chart inside it at ``FONT`` px or more (in place)."""
    for attr in ("layer", "hconcat", "vconcat", "concat"):
        for part in getattr(chart, attr, None) or ():
            _bigger_marks(part)
    spec = getattr(chart, "spec", alt.Undefined)
    if spec is not alt.Undefined:
        _bigger_marks(spec)
    mark = getattr(chart, "mark", alt.Undefined)
    if isinstance(mark, alt.MarkDef) and mark.type == "text":
        size = mark.fontSize
        if size is alt.Undefined or (isinstance(size, (int, float)) and size < FONT):
            mark.fontSize = FONT


def for_talk(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """``chart`` with every label, title, legend and text mark at ``FONT`` px or more and no label truncated (its
    text marks are changed in place: pass a chart built for the talk view)."""
    _bigger_marks(chart)
    return (
        chart.configure_axis(labelFontSize=FONT, titleFontSize=FONT, labelLimit=0, titleLimit=0, labelOverlap="greedy")
        .configure_legend(labelFontSize=FONT, titleFontSize=FONT, labelLimit=0, titleLimit=0)
        .configure_header(labelFontSize=FONT, titleFontSize=FONT, labelLimit=0, titleLimit=0)
        .configure_title(fontSize=FONT + 4, limit=0, anchor="start")
        .configure_text(fontSize=FONT)
    )


def enlarge(chart: alt.TopLevelMixin, width: int | None = None, height: int | None = None) -> alt.TopLevelMixin:
    """``chart`` drawn at ``width`` × ``height`` (a faceted chart: each panel); None keeps that side."""
    dims = {k: v for k, v in (("width", width), ("height", height)) if v is not None}
    if isinstance(chart, alt.FacetChart):
        out = chart.copy()
        out.spec = chart.spec.properties(**dims)
        return out
    if width is not None:  # the plot's own size, title and legends around it: Streamlit fits them all into the
        dims["autosize"] = PAD  # height otherwise, and a 24 px legend below squeezed a phase grid to nothing
    return chart.properties(**dims)


def directions_panel(df: pd.DataFrame, title: str, lim: float = 1.5, side: int = PLOT) -> alt.LayerChart:
    """One instance's feature directions in the 2-d hidden plane (``charts.tms.directions_frame`` rows), square,
    equal axes [-lim, lim], each tip labelled by its feature."""
    scale = alt.Scale(domain=[-lim, lim], clamp=True)
    base = alt.Chart().encode(
        x=alt.X("x:Q", scale=scale, axis=alt.Axis(title=None, tickCount=5)),
        y=alt.Y("y:Q", scale=scale, axis=alt.Axis(title=None, tickCount=5)),
    )
    color = alt.Color("superposition:Q", scale=SUPERPOSITION_SCALE, legend=None)  # the norms beside say it
    lines = base.mark_line(strokeWidth=5).encode(detail="feature:N", order="end:O", color=color)
    tips = base.transform_filter(alt.datum.end == 1)
    points = tips.mark_point(filled=True, size=260).encode(color=color)
    names = (
        tips.transform_calculate(
            tx=f"datum.x * {1 + 0.18 / lim}", ty=f"datum.y * {1 + 0.18 / lim}", name="'f' + datum.feature"
        )
        .mark_text(fontSize=FONT, fontWeight="bold")
        .encode(x=alt.X("tx:Q", scale=scale), y=alt.Y("ty:Q", scale=scale), text="name:N")
    )
    return alt.layer(lines, points, names, data=chart_data(df)).properties(width=side, height=side, title=title)


def norm_panel(df: pd.DataFrame, title: str, max_norm: float = 1.5, width: int = PLOT, height: int = PLOT) -> alt.Chart:
    """One instance's feature norms ‖W_i‖ as bars coloured by superposition (``charts.tms.feature_frame`` rows)."""
    return (
        alt.Chart(chart_data(df), title=title)
        .mark_bar()
        .encode(
            y=alt.Y("feature:O", title="feature", sort="ascending"),
            x=alt.X("norm:Q", scale=alt.Scale(domain=[0, max_norm], clamp=True), title="‖Wᵢ‖"),
            color=alt.Color("superposition:Q", scale=SUPERPOSITION_SCALE, title="superposition"),
        )
        .properties(width=width, height=height)
    )


def gram_panel(df: pd.DataFrame, title: str, side: int = PLOT) -> alt.Chart:
    """One instance's WᵀW (``charts.tms.wtw_frame`` rows) on the fixed diverging scale [-1, 1], square."""
    return wtw_panel(df).properties(width=side, height=side, title=title)


def tms_talk_chart(
    features: pd.DataFrame, directions: pd.DataFrame | None, gram: pd.DataFrame | None, label: str
) -> alt.TopLevelMixin:
    """One TMS instance at projector size: its feature directions beside its norms when m = 2, otherwise its
    norms beside WᵀW."""
    if directions is not None:
        left = directions_panel(directions, f"Feature directions · {label}")
        right = norm_panel(features, "Feature norms", width=PLOT - 80)
    else:
        left = norm_panel(features, f"Feature norms · {label}")
        right = gram_panel(gram, "WᵀW")
    return for_talk(alt.hconcat(left, right, spacing=60).resolve_scale(color="independent"))
