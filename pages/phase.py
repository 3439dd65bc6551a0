"""Phase diagram: where the extra feature is dropped, given a dimension or stored in superposition."""

from ui.nav import ensure_app_navigation

ensure_app_navigation()  # first: a fresh server runs a deep link's page file alone first, and hands it to app.py

import numpy as np
import streamlit as st

import toys  # noqa: F401  first: pages run on concurrent threads, and a submodule import racing toys/__init__ deadlocked
from charts.phase import boundary_frame, cell_edges, phase_chart, phase_frame, seeds_frame
from charts.talk import TALK_H, enlarge, for_talk
from charts.tms import directions_chart, directions_frame, loss_chart, loss_frame
from toys.tms.metrics import feature_norms, superposition_score
from toys.tms.phase import (
    PHASES,
    PhaseConfig,
    PhaseTrainer,
    boundary_table,
    cell_instances,
    cell_table,
    exact_agreement,
    exact_applies,
    phase_grid,
    phase_name,
)
from ui.controls import valid_config
from ui.export import export_panel
from ui.live import live_training
from ui.phase_controls import phase_config, phase_controls
from ui.sweeps import config_value, phase_cells, sweep_result
from ui.talk import header, talk_mode

MARGIN = 0.1  # decades from the nearest exact boundary for the "away from the boundaries" agreement

header(
    "phase",
    "Phase diagram",
    "Every cell is a toy model x' = ReLU(WᵀWx + b) whose features are present with density p; the last, "
    "**extra** feature has importance r relative to the others. All cells × seeds train at once as one batched "
    "model; each cell shows its best seed (lowest expected loss), coloured by what it does with the extra "
    "feature. For n = 2, m = 1 the black lines are the exact boundaries between the three candidate solutions "
    "(drop a feature, or store both as an antipodal pair).",
)

values = phase_controls()
cfg = valid_config(phase_config, values, thing="grid")


def agreement(cells, container) -> None:
    """The learned phases against the closed form (n = 2, m = 1 only), as metrics in ``container``."""
    overall, away, n_far = exact_agreement(cells, MARGIN)
    container.metric("Agreement with the exact phases", f"{overall:.0%}")
    if away is not None:
        container.metric(
            f"… in cells ≥ {MARGIN} decades from a boundary",
            f"{away:.0%}",
            help=f"{n_far} of {len(cells)} cells. Near a boundary the trained model has more freedom than the three "
            "candidates (shorter vectors, biases) and the learned boundary shifts slightly.",
        )


def phase_counts(cells, container) -> None:
    counts = cells["phase"].value_counts()
    container.markdown("**Cells per phase**")
    container.dataframe({"phase": list(PHASES), "cells": [int(counts.get(p, 0)) for p in PHASES]}, hide_index=True)


def draw_sweep(rows, info, label) -> None:
    """A sweep's phase grid (``python -m toys sweep``), best of all its seeds per cell."""
    cells = phase_cells(rows)
    r_values, p_values = np.sort(rows["r"].unique()), np.sort(rows["p"].unique())
    if len(cells) != len(r_values) * len(p_values):
        st.error("These rows do not form a grid of cells (mixed grids?): pick one grid point.")
        return
    exact = "exact_phase" in cells
    frame = phase_frame(cells, r_values, p_values)
    bounds = None
    if exact:
        bounds = boundary_frame(
            boundary_table(
                config_value(rows, "r_min", r_values[0]),
                config_value(rows, "r_max", r_values[-1]),
                config_value(rows, "p_min", p_values[0]),
            )
        )
    r_lo, r_hi = cell_edges(r_values)
    p_lo, p_hi = cell_edges(p_values)
    n_seeds = int(rows.groupby(["cell_row", "cell_col"]).size().max())
    title = (
        f"sweep · n = {config_value(rows, 'n_features')}, m = {config_value(rows, 'n_hidden')} · best of {n_seeds} "
        f"seeds · {len(cells):,} cells"
    )
    chart = phase_chart(frame, bounds, [float(r_lo[0]), float(r_hi[-1])], [float(p_lo[0]), float(p_hi[-1])], title)
    left, right = st.columns([3, 2])
    left.altair_chart(chart)
    phase_counts(frame, right)
    if exact:
        agreement(frame, right)


if not talk_mode():
    opened = sweep_result("phase", "phase")
    if opened is not None:
        draw_sweep(*opened)
        st.divider()  # the live model below


def _grid_chart(snap, legend: str = "bottom"):
    """The trained grid, its cells' table, whether the exact n = 2, m = 1 boundaries apply and their
    table (None where they do not), and the phase chart (its legend at ``legend``)."""
    cfg = PhaseConfig.from_dict(snap.config)
    grid = phase_grid(cfg, snap["W"], snap["b"], snap["expected_loss"])
    exact = exact_applies(cfg)
    cells = phase_frame(cell_table(grid, exact), grid.r, grid.p, grid.W, grid.b)
    bounds = boundary_frame(boundary_table(cfg.r_min, cfg.r_max, cfg.p_min)) if exact else None
    r_lo, r_hi = cell_edges(grid.r)
    p_lo, p_hi = cell_edges(grid.p)
    title = f"n = {cfg.n_features}, m = {cfg.n_hidden} · best of {cfg.seeds} seeds · step {snap.step:,}"
    r_domain, p_domain = [float(r_lo[0]), float(r_hi[-1])], [float(p_lo[0]), float(p_hi[-1])]
    chart = phase_chart(cells, bounds, r_domain, p_domain, title, legend=legend)
    return cfg, grid, exact, cells, bounds, chart


def draw(snap, info) -> None:
    cfg, grid, exact, cells, bounds, chart = _grid_chart(snap)

    left, right = st.columns([3, 2])
    left.altair_chart(chart)
    phase_counts(cells, right)
    if exact:
        agreement(cells, right)
    else:
        right.caption("No closed form here: the phases are the trained models' own.")

    row = min(values["phase_row"], cfg.n_importance - 1)
    col = min(values["phase_col"], cfg.n_density - 1)
    if (row, col) != (values["phase_row"], values["phase_col"]):
        st.info(
            f"The inspected cell is outside this {cfg.n_importance} × {cfg.n_density} grid; showing row {row}, "
            f"column {col}."
        )
    st.subheader(f"Cell r = {grid.r[row]:.3g}, p = {grid.p[col]:.3g}: all {cfg.seeds} seeds")
    idx = cell_instances(cfg, row, col)
    W, b = snap["W"][idx], snap["b"][idx]
    seeds = seeds_frame(W, b, snap["expected_loss"][idx], phase_name(grid.seed_phase[row, col]), feature_norms(W))
    st.dataframe(seeds, hide_index=True)
    labels = [f"seed {k}" + (" (best)" if k == grid.best_seed[row, col] else "") for k in range(cfg.seeds)]
    c1, c2 = st.columns(2)
    losses = loss_frame(snap.loss[:, idx], snap.loss_steps, labels)
    lc = loss_chart(losses, cfg.steps)
    c1.altair_chart(lc, width="stretch")
    arrows = arrows_df = None
    if cfg.n_hidden == 2:
        arrows_df = directions_frame(W, np.arange(cfg.seeds), labels, superposition_score(W))
        arrows = directions_chart(arrows_df, columns=2)  # four panels run past half the page
        c2.altair_chart(arrows)

    items = [("Phase diagram", "phase_diagram", chart, cells)]
    if bounds is not None:
        items.append(("Exact boundaries", "phase_boundaries", None, bounds))
    items += [
        ("Loss of the inspected cell's seeds", "phase_cell_loss", lc, losses),
        ("Seeds of the inspected cell", "phase_cell_seeds", None, seeds),
    ]
    if arrows is not None:
        items.append(("Feature directions of the inspected cell", "phase_cell_directions", arrows, arrows_df))
    export_panel(snap, "phase", items)


def talk(snap, info) -> None:
    """Talk mode: the phase grid, large, with the exact boundaries; the colours' legend on its right (below, it fell
    under the fold at 1280×720)."""
    chart = _grid_chart(snap, legend="right")[-1]
    st.altair_chart(for_talk(enlarge(chart, width=800, height=TALK_H - 50)), width="content")


live_training("phase", cfg, PhaseTrainer, draw, talk=talk)
