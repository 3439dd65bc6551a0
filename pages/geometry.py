"""Feature geometry: dimensions per feature across sparsities, the polytopes features form, ideal packings."""

from ui.nav import ensure_app_navigation

ensure_app_navigation()  # first: a fresh server runs a deep link's page file alone first, and hands it to app.py

import numpy as np
import pandas as pd
import streamlit as st

import toys  # noqa: F401  first: pages run on concurrent threads, and a submodule import racing toys/__init__ deadlocked
from charts.geometry import (
    density_domain,
    dims_per_feature_chart,
    edge_frame,
    feature_dims_chart,
    feature_geometry_frame,
    group_frame,
    ideal_chart,
    ideal_frame,
    instance_chart,
    instance_frame,
    sweep_frame,
)
from charts.talk import TALK_H, enlarge, for_talk
from fastcore.geometry import min_coherence, thomson, welch_bound
from toys import TMSConfig, TMSTrainer
from toys.core.data import instance_probability
from toys.tms.geometry import feature_geometry, ideal_edges, smallest_angle
from toys.tms.metrics import dimensions_per_feature, n_represented
from ui import kernels
from ui.controls import valid_config
from ui.export import export_panel, export_row
from ui.geometry_controls import geometry_config, geometry_controls, ideal_controls
from ui.live import live_training
from ui.sweeps import config_value, sweep_result
from ui.talk import header, talk_mode

header(
    "geometry",
    "Feature geometry",
    "One ReLU-output toy model per sparsity, all trained at once. As features get sparser the model stores more "
    "of them per dimension, and not smoothly: the **dimensionality** of a feature, D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)², "
    "sticks at the fractions of the polytopes features form (1 dedicated, 3/4 tetrahedron, 2/3 triangle, "
    "1/2 digon, 2/5 pentagon, 3/8 square antiprism; Elhage et al. 2022, *Toy Models of Superposition*).",
)

values = geometry_controls()
cfg = valid_config(geometry_config, values)


def draw_sweep(rows, info, label) -> None:
    """A sweep of the geometry's toy (``python -m toys sweep``): dimensions per feature per density, the median over
    the sweep's seeds, and how far the seeds spread."""
    by = rows.groupby("p", sort=True)
    per_p = pd.DataFrame(
        {
            "p": by["p"].first(),
            "dims_per_feature": by["dims_per_feature"].median(),
            "n_represented": by["n_represented"].median(),
            "loss": by["final_loss"].median(),
            "dims_min": by["dims_per_feature"].min(),
            "dims_max": by["dims_per_feature"].max(),
            "seeds": by.size(),
        }
    ).reset_index(drop=True)
    per_p["instance"] = np.arange(len(per_p))
    per_p["inv_density"] = 1.0 / per_p["p"]
    p = per_p["p"].to_numpy()
    chart = dims_per_feature_chart(per_p, density_domain(p))
    n, m = config_value(rows, "n_features"), config_value(rows, "n_hidden")
    st.markdown(
        f"**Sweep**: n = {n} features in m = {m} dimensions, {len(per_p)} densities × "
        f"{int(per_p['seeds'].max())} seeds; the line is the median over seeds."
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(
        per_p[["p", "dims_per_feature", "dims_min", "dims_max", "n_represented", "loss", "seeds"]],
        hide_index=True,
    )


if not talk_mode():
    opened = sweep_result("tms", "geo")
    if opened is not None:
        draw_sweep(*opened)
        st.divider()  # the live model below


def draw(snap, info) -> None:
    cfg = TMSConfig.from_dict(snap.config)
    W = snap["W"]  # (I, H, F)
    if not np.isfinite(W).all():
        st.warning("The weights hold NaN or infinite values: nothing to analyse. Press Reset.")
        return
    p = instance_probability(cfg)
    x_domain = density_domain(p)
    sweep = sweep_frame(W, p, dimensions_per_feature(W), n_represented(W), snap.final_loss)
    dpf = dims_per_feature_chart(sweep, x_domain)
    st.altair_chart(dpf, width="stretch")
    if not kernels.ready("geometry", "Every feature's dimensionality by polytope"):
        return
    features = feature_geometry_frame(p, feature_geometry(W))
    inst = min(values["geo_instance"], cfg.n_instances - 1)

    scatter = feature_dims_chart(features, x_domain, selected=inst)
    st.altair_chart(scatter, width="stretch")

    if inst != values["geo_instance"]:
        st.info(
            f"Instance {values['geo_instance']} does not exist in this {cfg.n_instances}-instance sweep; "
            f"showing the last one, {inst}."
        )
    one = instance_frame(features, inst)
    groups = group_frame(one)
    st.subheader(
        f"Instance {inst}: 1 − S = {p[inst]:.3g} · {int((one['group'] >= 0).sum())} of {cfg.n_features} "
        f"features represented in {len(groups)} polytope{'' if len(groups) == 1 else 's'}"
    )
    bars = instance_chart(one, f"D_i of instance {inst}'s features, grouped by polytope")
    st.altair_chart(bars, width="stretch")
    st.dataframe(groups, hide_index=True)

    export_panel(
        snap,
        "geo",
        [
            ("Dimensions per feature", "geo_dims_per_feature", dpf, sweep),
            ("Feature dimensionalities", "geo_feature_dims", scatter, features),
            (f"Instance {inst}", f"geo_instance{inst}", bars, one),
            ("Polytopes of this instance", f"geo_instance{inst}_polytopes", None, groups),
        ],
    )


def talk(snap, info) -> None:
    """Talk mode: dimensions per feature against 1/(1 − S), large."""
    cfg = TMSConfig.from_dict(snap.config)
    W = snap["W"]
    if not np.isfinite(W).all():
        st.warning("The weights hold NaN or infinite values: nothing to analyse. Press Reset.")
        return
    p = instance_probability(cfg)
    sweep = sweep_frame(W, p, dimensions_per_feature(W), n_represented(W), snap.final_loss)
    st.altair_chart(for_talk(enlarge(dims_per_feature_chart(sweep, density_domain(p)), height=TALK_H)), width="stretch")


live_training("geo", cfg, TMSTrainer, draw, talk=talk)
if talk_mode():
    st.stop()


@st.cache_data(show_spinner="Searching for the ideal configuration…", max_entries=64)
def ideal(n: int, d: int, restarts: int):
    points, energy = thomson(n, d, restarts=restarts, seed=0)
    lines, coh = min_coherence(n, d, restarts=restarts, seed=0)
    return points, energy, lines, coh


st.header("Ideal configurations")
st.markdown(
    "Where would n feature directions go in d dimensions if they only had to keep apart? **Thomson points** "
    "minimise the Coulomb energy Σ 1/‖x_i − x_j‖ on the unit sphere; **minimum-coherence lines** minimise the "
    "largest |cos| between two directions, which can never beat the **Welch bound**."
)
ideal_values = ideal_controls()
n, d = ideal_values["geo_ideal_n"], ideal_values["geo_ideal_d"]
if not kernels.ready("geometry", "The ideal configuration"):
    st.stop()
points, energy, lines, coh = ideal(n, d, ideal_values["geo_ideal_restarts"])
c1, c2, c3, c4 = st.columns(4)
c1.metric("Thomson energy", f"{energy:.4f}")
c2.metric("Smallest angle, Thomson points", f"{smallest_angle(points):.2f}°")
c3.metric("Min coherence found", f"{coh:.4f}")
c4.metric("Welch bound", f"{welch_bound(n, d):.4f}")
if d in (2, 3):
    pts = ideal_frame(points, ideal_values["geo_azimuth"], ideal_values["geo_elevation"])
    edges = edge_frame(pts, ideal_edges(points))
    shape = "circle" if d == 2 else "sphere (drag the view sliders to turn it)"
    ideal_plot = ideal_chart(pts, edges, f"{n} Thomson points on the {shape}")
    st.altair_chart(ideal_plot)
    export_row(f"thomson_{n}_in_{d}", ideal_plot, pts, "geo_ideal")
else:
    st.caption(f"d = {d}: no drawing above 3 dimensions; the coordinates are below.")
    pts = ideal_frame(points)
    st.dataframe(pts, hide_index=True)
    st.download_button(
        "Thomson points (CSV)",
        pts.to_csv(index=False),
        f"thomson_{n}_in_{d}.csv",
        "text/csv",
        on_click="ignore",
        key="geo_ideal_csv",
    )
