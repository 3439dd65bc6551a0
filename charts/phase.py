"""Charts of the phase-diagram page: learned phase per (relative importance, density) cell, exact boundaries."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from charts.common import chart_data, y_title

PHASES = ("not learned", "dedicated dimension", "superposition")  # as toys.tms.phase.PHASES, for the colour scale
PHASE_COLORS = ("#c9ced6", "#4c78a8", "#e45756")  # not learned, dedicated dimension, superposition
NO_PHASE = "diverged"


def cell_edges(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edges of cells centred (geometrically) on ascending ``values``. -> (n,), (n,)"""
    v = np.log10(np.asarray(values, dtype=np.float64))
    half = np.diff(v) / 2 if len(v) > 1 else np.array([])
    pad = half[0] if len(half) and half[0] > 0 else 0.1
    lo = np.r_[v[0] - pad, v[1:] - half] if len(v) > 1 else v - pad
    hi = np.r_[v[:-1] + half, v[-1] + (half[-1] if len(half) and half[-1] > 0 else pad)] if len(v) > 1 else v + pad
    return 10.0**lo, 10.0**hi


def phase_frame(
    cells, r_values: np.ndarray, p_values: np.ndarray, W: np.ndarray | None = None, b: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per cell, from a cell table (``toys.tms.phase.cell_table``: row, col, r, p, phase, loss, best_seed,
    extra_norm, seeds_superposed, and exact_phase, agrees if there): the cell's edges on the log axes, from the
    grid's ``r_values`` (R,) and ``p_values`` (D,), and, when given, its best seed's W (R, D, H, F) and b (R, D, F)
    as text (a sweep's rows carry no weights)."""
    r_lo, r_hi = cell_edges(r_values)
    p_lo, p_hi = cell_edges(p_values)
    row, col = np.asarray(cells["row"]), np.asarray(cells["col"])
    df = pd.DataFrame(
        {
            "row": row,
            "col": col,
            "r": cells["r"],
            "p": cells["p"],
            "r_lo": r_lo[row],
            "r_hi": r_hi[row],
            "p_lo": p_lo[col],
            "p_hi": p_hi[col],
            **{k: np.asarray(cells[k]) for k in ("phase", "loss", "best_seed", "extra_norm", "seeds_superposed")},
        }
    )
    if W is not None and b is not None:
        df["W"] = [np.array2string(w, precision=3, separator=", ") for w in W[row, col]]
        df["b"] = [np.array2string(v, precision=3, separator=", ") for v in b[row, col]]
    for k in ("exact_phase", "agrees"):
        if k in cells:
            df[k] = np.asarray(cells[k])
    return df


def boundary_frame(boundaries) -> pd.DataFrame:
    """The exact boundaries' points (``toys.tms.phase.boundary_table``: boundary, r, p, order) as a frame."""
    return pd.DataFrame({k: boundaries[k] for k in ("boundary", "r", "p", "order")})


def phase_chart(
    cells: pd.DataFrame,
    boundaries: pd.DataFrame | None,
    r_domain: list[float],
    p_domain: list[float],
    title: str,
    size: int = 420,
    legend: str = "bottom",
) -> alt.LayerChart:
    """Cells coloured by the extra feature's learned phase on log axes fixed to the grid; boundaries drawn over;
    the colours' legend at ``legend`` ("bottom", in two columns, or "right", in one)."""
    x = alt.X("p_lo:Q", scale=alt.Scale(type="log", domain=p_domain, nice=False), title="feature density 1 − S")
    y = alt.Y(
        "r_lo:Q",
        scale=alt.Scale(type="log", domain=r_domain, nice=False),
        title=y_title("relative importance of the extra feature"),
    )
    color = alt.Color(
        "phase:N",
        title="extra feature",
        scale=alt.Scale(domain=list(PHASES) + [NO_PHASE], range=list(PHASE_COLORS) + ["#222222"]),
        legend=alt.Legend(orient=legend, columns=2 if legend == "bottom" else 1),
    )
    tooltip = [
        alt.Tooltip("r:Q", format=".3g", title="importance r"),
        alt.Tooltip("p:Q", format=".3g", title="density p"),
        "phase:N",
        alt.Tooltip("loss:Q", format=".3e"),
        "best_seed:Q",
        "seeds_superposed:Q",
    ]
    tooltip += [f"{k}:N" for k in ("W", "b") if k in cells]
    if "exact_phase" in cells:
        tooltip.append("exact_phase:N")
    rects = (
        alt.Chart(chart_data(cells))
        .mark_rect(stroke="white", strokeWidth=0.3)
        .encode(x=x, x2="p_hi:Q", y=y, y2="r_hi:Q", color=color, tooltip=tooltip)
    )
    layers = [rects]
    if boundaries is not None and len(boundaries):
        layers.append(
            alt.Chart(chart_data(boundaries))
            .mark_line(color="black", strokeWidth=2, clip=True)
            .encode(
                x=alt.X("p:Q", scale=alt.Scale(type="log", domain=p_domain, nice=False)),
                y=alt.Y("r:Q", scale=alt.Scale(type="log", domain=r_domain, nice=False)),
                detail="boundary:N",
                order="order:Q",
                tooltip=["boundary:N"],
            )
        )
    return alt.layer(*layers).properties(width=size, height=size, title=title)


def seeds_frame(W: np.ndarray, b: np.ndarray, loss: np.ndarray, phase: np.ndarray, norms: np.ndarray) -> pd.DataFrame:
    """One row per seed of one cell: W (K, H, F), b (K, F), loss (K,), phase names (K,), feature norms (K, F)."""
    rows = []
    for k in range(W.shape[0]):
        row = {"seed": k, "loss": float(loss[k]), "phase": str(phase[k])}
        for f in range(W.shape[2]):
            row[f"‖W_{f + 1}‖"] = float(norms[k, f])
        for h in range(W.shape[1]):
            for f in range(W.shape[2]):
                row[f"W[{h},{f + 1}]"] = float(W[k, h, f])
        for f in range(W.shape[2]):
            row[f"b_{f + 1}"] = float(b[k, f])
        rows.append(row)
    return pd.DataFrame(rows)
