"""Each page's one talk-mode chart, built from a snapshot (the page draws it; ``ui.gallery`` renders it to a
thumbnail), and the talk-mode picker of which instance it shows."""

from __future__ import annotations

import altair as alt
import streamlit as st

from charts.common import instance_labels
from charts.talk import tms_talk_chart
from charts.tms import directions_frame, feature_frame, wtw_frame
from toys import Snapshot, TMSConfig
from toys.core.composite import split
from toys.core.data import instance_probability
from toys.tms.metrics import feature_dimensionality, feature_norms, superposition_score


def tms_view(snap: Snapshot, instance: int) -> alt.TopLevelMixin:
    """The Superposition page's talk chart: one instance (of variant A, for a pair) at projector size."""
    s = split(snap)[0] if snap.extras.get("pair") else snap
    cfg = TMSConfig.from_dict(s.config)
    W = s["W"]
    labels = instance_labels(instance_probability(cfg))
    sup = superposition_score(W)
    shown = [instance]
    features = feature_frame(W, shown, labels, feature_norms(W), sup, feature_dimensionality(W))
    directions = directions_frame(W, shown, labels, sup) if cfg.n_hidden == 2 else None
    gram = wtw_frame(W, shown, labels) if directions is None else None
    return tms_talk_chart(features, directions, gram, labels[instance])


MAX_BUTTONS = 8  # instance buttons that fit beside the step counter at 1280 px; more get a slider


def pick_instance(n_instances: int, labels: list[str], where=None) -> int:
    """Which instance the talk chart shows: ``?instance=`` or, by default, the last (the sparsest of a sweep);
    buttons (in ``where``, e.g. the row beside the step counter) change it, or a slider where more than
    ``MAX_BUTTONS`` would not fit (ten buttons ran off the row's left edge at 1280×720)."""
    if n_instances == 1:
        return 0
    try:
        first = min(max(int(st.query_params.get("instance", n_instances - 1)), 0), n_instances - 1)
    except ValueError:
        first = n_instances - 1
    if st.session_state.get("talk_instance") is None or st.session_state["talk_instance"] >= n_instances:
        st.session_state["talk_instance"] = first
    widget = (where or st).segmented_control if n_instances <= MAX_BUTTONS else (where or st).select_slider
    return widget(
        "Instance",
        options=list(range(n_instances)),
        format_func=lambda i: f"#{i}",
        key="talk_instance",
        label_visibility="collapsed",
        help="Which instance: " + "; ".join(labels),
    )
