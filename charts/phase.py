"""Charts of the phase-diagram page: learned phase per (relative importance, density) cell, exact boundaries."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from charts.common import chart_data, y_title
from toys.tms.phase import PHASES, PhaseGrid, boundary_curves, exact_phase

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


def phase_name(code) -> np.ndarray:
    names = np.array(PHASES + (NO_PHASE,), dtype=object)
    code = np.asarray(code)
    return names[np.where(code < 0, len(PHASES), code)]


def phase_frame(grid: PhaseGrid, with_exact: bool) -> pd.DataFrame:
    """One row per cell: its (r, p) and edges, the best seed's phase, loss and weights; the exact phase if asked."""
    R, D = grid.phase.shape
    r_lo, r_hi = cell_edges(grid.r)
    p_lo, p_hi = cell_edges(grid.p)
    row, col = np.meshgrid(np.arange(R), np.arange(D), indexing="ij")
    W = grid.W  # (R, D, H, F)
    norms = np.linalg.norm(W, axis=2)  # (R, D, F)
    df = pd.DataFrame({
        "row": row.ravel(), "col": col.ravel(),
        "r": grid.r[row].ravel(), "p": grid.p[col].ravel(),
        "r_lo": r_lo[row].ravel(), "r_hi": r_hi[row].ravel(), "p_lo": p_lo[col].ravel(), "p_hi": p_hi[col].ravel(),
        "phase": phase_name(grid.phase).ravel(),
        "loss": grid.loss.ravel(),
        "best_seed": grid.best_seed.ravel(),
        "extra_norm": norms[..., -1].ravel(),
        "seeds_superposed": (grid.seed_phase == 2).sum(axis=2).ravel(),
        "W": [np.array2string(w, precision=3, separator=", ") for w in W.reshape(R * D, *W.shape[2:])],
        "b": [np.array2string(b, precision=3, separator=", ") for b in grid.b.reshape(R * D, -1)],
    })
    if with_exact:
        df["exact_phase"] = phase_name(exact_phase(df["r"].to_numpy(), df["p"].to_numpy()))
        df["agrees"] = df["phase"] == df["exact_phase"]
    return df


def boundary_frame(r_min: float, r_max: float, p_min: float, n: int = 200) -> pd.DataFrame:
    """The exact n = 2, m = 1 boundaries as ordered points, clipped to p ≥ p_min."""
    frames = []
    for name, r, p in boundary_curves(r_min, r_max, n):
        keep = p >= p_min
        frames.append(pd.DataFrame({"boundary": name, "r": r[keep], "p": p[keep], "order": np.arange(keep.sum())}))
    if not frames:
        return pd.DataFrame(columns=["boundary", "r", "p", "order"])
    return pd.concat(frames, ignore_index=True)


def phase_chart(cells: pd.DataFrame, boundaries: pd.DataFrame | None, r_domain: list[float], p_domain: list[float],
                title: str, size: int = 420) -> alt.LayerChart:
    """Cells coloured by the extra feature's learned phase on log axes fixed to the grid; boundaries drawn over."""
    x = alt.X("p_lo:Q", scale=alt.Scale(type="log", domain=p_domain, nice=False), title="feature density 1 − S")
    y = alt.Y("r_lo:Q", scale=alt.Scale(type="log", domain=r_domain, nice=False),
              title=y_title("relative importance of the extra feature"))
    color = alt.Color("phase:N", title="extra feature",
                      scale=alt.Scale(domain=list(PHASES) + [NO_PHASE], range=list(PHASE_COLORS) + ["#222222"]),
                      legend=alt.Legend(orient="bottom", columns=2))
    tooltip = [alt.Tooltip("r:Q", format=".3g", title="importance r"),
               alt.Tooltip("p:Q", format=".3g", title="density p"),
               "phase:N", alt.Tooltip("loss:Q", format=".3e"), "best_seed:Q", "seeds_superposed:Q", "W:N", "b:N"]
    if "exact_phase" in cells:
        tooltip.append("exact_phase:N")
    rects = alt.Chart(chart_data(cells)).mark_rect(stroke="white", strokeWidth=0.3).encode(
        x=x, x2="p_hi:Q", y=y, y2="r_hi:Q", color=color, tooltip=tooltip)
    layers = [rects]
    if boundaries is not None and len(boundaries):
        layers.append(alt.Chart(chart_data(boundaries)).mark_line(color="black", strokeWidth=2, clip=True).encode(
            x=alt.X("p:Q", scale=alt.Scale(type="log", domain=p_domain, nice=False)),
            y=alt.Y("r:Q", scale=alt.Scale(type="log", domain=r_domain, nice=False)),
            detail="boundary:N", order="order:Q", tooltip=["boundary:N"]))
    return alt.layer(*layers).properties(width=size, height=size, title=title)


def seeds_frame(W: np.ndarray, b: np.ndarray, loss: np.ndarray, phase: np.ndarray) -> pd.DataFrame:
    """One row per seed of one cell: W (K, H, F), b (K, F), loss (K,), phase (K,)."""
    rows = []
    names = phase_name(np.asarray(phase))
    for k in range(W.shape[0]):
        row = {"seed": k, "loss": float(loss[k]), "phase": str(names[k])}
        for f in range(W.shape[2]):
            row[f"‖W_{f + 1}‖"] = float(np.linalg.norm(W[k, :, f]))
        for h in range(W.shape[1]):
            for f in range(W.shape[2]):
                row[f"W[{h},{f + 1}]"] = float(W[k, h, f])
        for f in range(W.shape[2]):
            row[f"b_{f + 1}"] = float(b[k, f])
        rows.append(row)
    return pd.DataFrame(rows)
