"""A page opens a sweep's result (``python -m toys sweep``: ``results.parquet``) and draws it.

``sweep_result(toy, key)`` shows an uploader in an expander and returns the rows of the part of the sweep the visitor
picks (one grid point: the spec's grid fields, all seeds), or None. A file that is not a sweep result, is another
toy's, or is too large is refused with a message under the uploader (``toys.sweep.store.read_results``: nothing
unpickled, sizes measured before rows are read); the visitor's live model is untouched either way.
``phase_cells`` turns a phase sweep's rows into the Phase diagram's cell table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from toys.sweep.store import CFG, grid_groups, read_results
from toys.tms.phase import SUPERPOSED, exact_phase, phase_name
from ui.text import literal
from ui.upload import MAX_UPLOAD_MB

COMMAND = "python -m toys sweep SPEC"


def sweep_result(toy: str, key: str) -> tuple[pd.DataFrame, dict[str, Any], str] | None:
    """The uploader; -> (rows of the picked grid point, the result's metadata, the point's label) or None."""
    widget, state = f"{key}_sweep_file", f"{key}_sweep"

    def changed() -> None:
        file = st.session_state.get(widget)
        st.session_state[state] = None
        if file is None:
            return
        try:
            df, info = read_results(file, toy=toy, max_bytes=MAX_UPLOAD_MB * 2**20)
        except ValueError as e:
            st.session_state[state] = ("error", f"This file was not opened: {literal(e, 400)}.")
        else:
            st.session_state[state] = ("ok", df, info, file.name)

    loaded = st.session_state.get(state)
    with st.expander("Open a sweep result", expanded=bool(loaded)):
        st.file_uploader(
            f"results.parquet of a sweep of the {toy!r} toy (`{COMMAND}`), at most {MAX_UPLOAD_MB} MB",
            type=["parquet"],
            max_upload_size=MAX_UPLOAD_MB,
            key=widget,
            on_change=changed,
            help="A sweep trains a grid of configs × seeds on Ray (see the README: Sweeps) and writes one row per "
            "trained instance. The file is checked before its rows are read; nothing in it is executed.",
        )
        loaded = st.session_state.get(state)
        if not loaded:
            return None
        if loaded[0] == "error":
            st.error(loaded[1])
            return None
        _, df, info, name = loaded
        groups = grid_groups(df, info)
        label = next(iter(groups))
        if len(groups) > 1:
            label = st.selectbox("Grid point", list(groups), key=f"{key}_sweep_group")
        part = df[groups[label]]
        done, total = info.get("finished", "?"), info.get("shards", "?")
        st.caption(
            f"**{literal(info['spec'].get('name', name), 80)}**: {len(df):,} instances from {done} of {total} "
            f"shards, seeds {sorted(int(s) for s in part['seed'].unique())[:12]}"
            + ("…" if part["seed"].nunique() > 12 else "")
            + ("" if label == "all" else f" · {label}")
        )
        return part, info, label


def config_value(df: pd.DataFrame, field: str, default: Any = None) -> Any:
    """A config field's value in the rows (the first; fields outside the grid are the same in every row)."""
    col = CFG + field
    return df[col].iloc[0] if col in df.columns and len(df) else default


def phase_cells(df: pd.DataFrame) -> pd.DataFrame:
    """The cells of a phase sweep's rows, as ``toys.tms.phase.cell_table`` gives them for one batched grid whose
    seeds are all the rows' (shards in seed order, then each shard's own seeds): row, col, r, p, phase, loss,
    best_seed, extra_norm, seeds_superposed, and with n = 2, m = 1 exact_phase and agrees."""
    d = df.sort_values(["cell_row", "cell_col", "seed", "cell_seed"], kind="stable").reset_index(drop=True)
    loss = d["expected_loss"].to_numpy(dtype=float)
    d["_loss"] = np.where(np.isfinite(loss), loss, np.inf)
    d["_k"] = d.groupby(["cell_row", "cell_col"]).cumcount()
    by = d.groupby(["cell_row", "cell_col"], sort=True)
    best = d.loc[by["_loss"].idxmin()].reset_index(drop=True)
    superposed = by["phase_code"].apply(lambda s: int((s == SUPERPOSED).sum())).to_numpy()
    cells = pd.DataFrame(
        {
            "row": best["cell_row"].to_numpy(),
            "col": best["cell_col"].to_numpy(),
            "r": best["r"].to_numpy(),
            "p": best["p"].to_numpy(),
            "phase": phase_name(best["phase_code"].to_numpy()),
            "loss": best["_loss"].to_numpy(),
            "best_seed": best["_k"].to_numpy(),
            "extra_norm": best["extra_norm"].to_numpy(),
            "seeds_superposed": superposed,
        }
    )
    if (config_value(df, "n_features"), config_value(df, "n_hidden")) == (2, 1):
        cells["exact_phase"] = phase_name(exact_phase(cells["r"].to_numpy(), cells["p"].to_numpy()))
        cells["agrees"] = cells["phase"] == cells["exact_phase"]
    return cells
