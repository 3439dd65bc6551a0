"""One row per trained instance of a shard: its coordinates inside the batched model and its final metrics.

``instance_rows(toy, trainer, snap)`` -> a list of flat dicts (numbers, strings, booleans, or lists of numbers), one
per instance in instance order, each with ``instance`` (its index) and ``final_loss``. The toys the pages read back
carry what those pages draw: ``phase`` (the cell's row, column, r, p, seed in the cell, expected loss, the extra
feature's phase code and norm), ``tms`` (feature probability, dimensions per feature, features represented, each
feature's dimensionality), ``deep``/``uand``/``cc`` (the CIS search's rows: functions computed by the trained network
and by the naive circuit), ``sae`` (width, k or λ and every score against the truth). Other toys give the final
loss alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from toys.core.data import instance_probability
from toys.core.snapshot import Snapshot


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def phase_rows(trainer, snap: Snapshot) -> list[dict]:
    from toys.tms.metrics import feature_norms
    from toys.tms.phase import PhaseConfig, extra_feature_phase, instance_grid

    cfg = PhaseConfig.from_dict(snap.config)
    r, p = instance_grid(cfg)
    W = snap["W"]
    finite = np.isfinite(W).all(axis=(1, 2))
    code = np.where(finite, extra_feature_phase(np.nan_to_num(W)), -1)
    norm = feature_norms(np.nan_to_num(W))[:, -1]
    idx = np.arange(cfg.n_instances)
    cell, seed = np.divmod(idx, cfg.seeds)
    row, col = np.divmod(cell, cfg.n_density)
    loss = snap["expected_loss"]
    return [
        {
            "cell_row": int(row[i]),
            "cell_col": int(col[i]),
            "r": float(r[i]),
            "p": float(p[i]),
            "cell_seed": int(seed[i]),
            "expected_loss": float(loss[i]),
            "phase_code": int(code[i]),
            "extra_norm": float(norm[i]),
        }
        for i in idx
    ]


def tms_rows(trainer, snap: Snapshot) -> list[dict]:
    from toys.tms.config import TMSConfig
    from toys.tms.metrics import dimensions_per_feature, feature_dimensionality, n_represented

    cfg = TMSConfig.from_dict(snap.config)
    W = np.nan_to_num(snap["W"])
    p = instance_probability(cfg)
    dpf, rep, dims = dimensions_per_feature(W), n_represented(W), feature_dimensionality(W)
    return [
        {
            "p": float(p[i]),
            "dims_per_feature": float(dpf[i]),
            "n_represented": int(rep[i]),
            "feature_dims": [float(v) for v in dims[i]],
        }
        for i in range(W.shape[0])
    ]


def _search_rows(name: str) -> Callable[[Any, Snapshot], list[dict]]:
    def rows(trainer, snap: Snapshot) -> list[dict]:
        from toys.compute.search import TOY_SEARCH, finish_row

        out = []
        for i, row in enumerate(TOY_SEARCH[name][2](snap)):
            row = finish_row(name, 0, row, 0.0)
            out.append({k: v for k, v in row.items() if k not in ("toy", "cell", "seconds")} | {"instance": i})
        return out

    return rows


def sae_rows(trainer, snap: Snapshot) -> list[dict]:
    from toys.decomp.cli import EVAL_SAMPLES, EVAL_SEED_OFFSET
    from toys.decomp.scores import score

    acts = trainer.source.acts(EVAL_SAMPLES, seed=trainer.cfg.seed + EVAL_SEED_OFFSET)
    return score(snap, acts=acts)["instances"]


ROWS: dict[str, Callable[[Any, Snapshot], list[dict]]] = {
    "phase": phase_rows,
    "tms": tms_rows,
    "deep": _search_rows("deep"),
    "uand": _search_rows("uand"),
    "cc": _search_rows("cc"),
    "sae": sae_rows,
}


def instance_rows(toy: str, trainer, snap: Snapshot) -> list[dict]:
    final = snap.final_loss  # (I,) or (I, columns)
    final = final.reshape(final.shape[0], -1)
    n = final.shape[0]
    extra = ROWS[toy](trainer, snap) if toy in ROWS else [{} for _ in range(n)]
    if len(extra) != n:
        raise AssertionError(f"{toy}: {len(extra)} rows for {n} instances")
    rows = []
    for i, row in enumerate(extra):
        loss = [float(v) for v in final[i]]
        base = {"instance": i, "final_loss": loss[0] if len(loss) == 1 else loss}
        rows.append(base | {k: _plain(v) for k, v in row.items() if k != "instance"})
    return rows
