"""Newgas's dense U-AND circuit, measured on a trained network (Newgas 2025, arXiv 2507.09816).

Newgas found that trained U-AND networks are fully dense: for a pair (i, j) every hidden neuron falls into one of four
classes by the signs of its input weights on i and j,

    A (+, +)    B1 (+, −)    B2 (−, +)    C (−, −)

with typical outputs on the inputs (x_i, x_j) = 00 / 01 / 10 / 11 of about A 0.05/0.15/0.15/0.25, B1 0.05/0/0.15/0,
B2 0.05/0.15/0/0, C 0.05/0/0/0, so that AND ≈ (A − B1 − B2 + C) / 0.25. Here the classes are defined by those signs
(a weight of exactly 0 counts as +); the paper's wording was not checked against its text.

What is measured, for one trained width:

- **shares**: per pair, the fraction of the d neurons in each class; averaged over all pairs;
- **truth table per class**: the mean activation h_k = ReLU(x W1[:, k] + b1[k]) of the neurons in each class on the
  four cases of the pair, pooled over (pair, draw, neuron in class). The background is the held-out cases'
  (``uand.held_out_cases``): every case has exactly n_active inputs on, the pair's own as the case says and the rest
  drawn uniformly from the other m − 2 inputs; the pairs are a uniform sample within a work budget;
- **the sign-product readout rule**: for gate g = (i, j) and neuron k, sign(W2[k, g]) = sign(W1[i, k]) · sign(W1[j, k])
  (+ for A and C, − for B1 and B2, as in AND ≈ A − B1 − B2 + C). Its share over all (gate, neuron) pairs (random
  signs give 1/2), and the share of the readout's magnitude Σ|W2| on the neurons that follow it.
"""

from __future__ import annotations

import numpy as np

from toys.compute.uand import CASES, HeldOut, UANDConfig, gate_pairs, held_out_cases
from toys.core.snapshot import Snapshot

CLASSES = ("A", "B1", "B2", "C")  # by (sign of the weight on i, on j): (+,+), (+,−), (−,+), (−,−)
CLASS_SIGN = np.array([1.0, -1.0, -1.0, 1.0])  # the readout sign the rule predicts per class
CASE_NAMES = ("00", "01", "10", "11")  # (x_i, x_j) in the order the paper lists them
PAPER_OUTPUTS = np.array(  # Newgas (2025): approximate neuron outputs per class (rows) on 00/01/10/11 (columns)
    [
        [0.05, 0.15, 0.15, 0.25],
        [0.05, 0.0, 0.15, 0.0],
        [0.05, 0.15, 0.0, 0.0],
        [0.05, 0.0, 0.0, 0.0],
    ]
)
_CASE_COLUMN = [CASES.index((int(n[0]), int(n[1]))) for n in CASE_NAMES]  # held-out case type of each column
NEWGAS_BUDGET = 5e7  # multiply-adds of the truth-table evaluation (a fraction of a second)
MAX_CELLS = 4_000_000  # (pair, neuron) cells the shares and the readout rule are computed on; a sample of pairs beyond


def neuron_classes(W1: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Class index (into CLASSES) of every neuron for every pair. W1 (m, d), pairs (G, 2) -> (G, d) int"""
    neg = W1 < 0  # (m, d)
    return 2 * neg[pairs[:, 0]].astype(np.int64) + neg[pairs[:, 1]]


def class_shares(W1: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Per pair, the fraction of the d neurons in each class. -> (G, 4), rows summing to 1"""
    cls = neuron_classes(W1, pairs)
    return np.stack([(cls == c).mean(axis=1) for c in range(len(CLASSES))], axis=1)


def sign_rule(W1: np.ndarray, W2: np.ndarray, pairs: np.ndarray, gates: np.ndarray | None = None) -> dict:
    """How often the readout follows the sign-product rule sign(W2[k, g]) = sign(W1[i, k]) sign(W1[j, k]) (a weight of
    exactly 0 counts as +). ``gates``: W2's column of each pair (default: pair t is column t).

    Returns ``share`` (of all (gate, neuron) pairs), ``weight_share`` (of Σ|W2| over them) and ``per_class`` (the
    share within each class, NaN for an empty class)."""
    gates = np.arange(len(pairs)) if gates is None else gates
    s = np.where(W1 < 0, -1.0, 1.0)  # (m, d)
    predicted = s[pairs[:, 0]] * s[pairs[:, 1]]  # (G, d)
    readout = W2[:, gates].T  # (G, d)
    holds = np.where(readout < 0, -1.0, 1.0) == predicted
    mag = np.abs(readout)
    total = mag.sum()
    cls = neuron_classes(W1, pairs)
    per_class = np.array(
        [holds[cls == c].mean() if (cls == c).any() else np.nan for c in range(len(CLASSES))], dtype=np.float64
    )
    return {
        "share": float(holds.mean()),
        "weight_share": float(mag[holds].sum() / total) if total > 0 else float("nan"),
        "per_class": per_class,
    }


def class_readout(W1: np.ndarray, W2: np.ndarray, pairs: np.ndarray, gates: np.ndarray | None = None) -> np.ndarray:
    """Mean readout weight W2[k, g] of the neurons in each class, over all (gate, neuron) pairs. -> (4,), NaN if
    empty"""
    gates = np.arange(len(pairs)) if gates is None else gates
    cls = neuron_classes(W1, pairs)
    readout = W2[:, gates].T
    return np.array([readout[cls == c].mean() if (cls == c).any() else np.nan for c in range(len(CLASSES))])


def class_truth_tables(W1: np.ndarray, b1: np.ndarray, held: HeldOut) -> tuple[np.ndarray, np.ndarray]:
    """Mean activation of each class's neurons on each case of their pair, pooled over the held-out gates, draws and
    neurons. Returns (means (4 classes, 4 cases in CASE_NAMES order), NaN where a class is empty; neuron counts per
    class summed over the gates (4,))."""
    pairs = held.pairs
    cls = neuron_classes(W1, pairs)  # (G, d)
    onehot = (cls[:, :, None] == np.arange(len(CLASSES))).astype(np.float64)  # (G, d, 4)
    counts = onehot.sum(axis=(0, 1))  # neurons per class, over the gates
    G, C, K, k = held.active.shape
    sums = np.zeros((len(CLASSES), C))
    step = max(1, int(2e6 // (C * K * k * W1.shape[1])))  # gates per chunk: about 2e6 gathered weights at a time
    for start in range(0, G, step):
        sl = slice(start, min(G, start + step))
        h = np.maximum(W1[held.active[sl]].sum(axis=-2) + b1, 0.0)  # (g, 4, K, d)
        sums += np.einsum("gckd,gdl->lc", h, onehot[sl])
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / (K * counts[:, None])
    means[counts == 0] = np.nan
    return means[:, _CASE_COLUMN], counts


def and_combination(table: np.ndarray) -> np.ndarray:
    """A − B1 − B2 + C per case from a (4 classes, 4 cases) truth table: Newgas's AND before scaling. -> (4,)"""
    return CLASS_SIGN @ np.nan_to_num(table)


def affordable_pairs(cfg: UANDConfig, d: int, budget: float = NEWGAS_BUDGET, floor: int = 20) -> int | None:
    """Pairs whose truth tables fit ``budget`` multiply-adds at width d (per pair: 4·K cases × (n_active + 1) × d);
    None when all of them fit. At least ``floor``."""
    per_pair = len(CASES) * cfg.eval_cases * (cfg.n_active + 1) * int(d)
    affordable = max(floor, int(budget // per_pair))
    return None if affordable >= cfg.n_gates else affordable


def newgas_analysis(
    snap: Snapshot, instance: int = -1, budget: float = NEWGAS_BUDGET, max_cells: int = MAX_CELLS
) -> dict:
    """Newgas's classes measured on one trained width of a U-AND snapshot (default: the widest).

    Returns ``d``; ``shares`` (4,) (the mean over the pairs of each class's share of the d neurons) and
    ``pair_shares`` (G', 4), on all G pairs or, where G·d > ``max_cells``, a uniform sample of ``n_share_pairs`` of
    them (seed [cfg.seed, 3]); ``table`` (4 classes × 4 cases, CASE_NAMES order) of mean activations on a sample of
    ``n_pairs`` pairs (the held-out background, its own seed: cfg.seed + 3); ``combination`` (A − B1 − B2 + C per
    case); ``rule`` (``sign_rule`` on the same pairs as the shares); ``readout`` (mean readout weight per class)."""
    cfg = UANDConfig.from_dict(snap.config)
    widths = np.asarray(snap["widths"])
    i = int(np.arange(len(widths))[instance])
    d = int(widths[i])
    W1 = snap["W1"][i, :, :d].astype(np.float64)
    b1 = snap["b1"][i, :d].astype(np.float64)
    W2 = snap["W2"][i, :d].astype(np.float64)
    gates = np.arange(cfg.n_gates)
    if cfg.n_gates * d > max_cells:  # a uniform sample of the pairs (its own random stream) bounds the memory
        size = max(1, max_cells // d)
        gates = np.sort(np.random.default_rng([cfg.seed, 3]).choice(cfg.n_gates, size=size, replace=False))
    pairs = gate_pairs(cfg.n_inputs)[gates]
    pair_shares = class_shares(W1, pairs)
    held = held_out_cases(cfg.n_inputs, cfg.n_active, cfg.eval_cases, cfg.seed + 3, affordable_pairs(cfg, d, budget))
    table, _ = class_truth_tables(W1, b1, held)
    return {
        "d": d,
        "instance": i,
        "shares": pair_shares.mean(axis=0),
        "pair_shares": pair_shares,
        "n_share_pairs": len(gates),
        "table": table,
        "combination": and_combination(table),
        "n_pairs": len(held.gates),
        "n_gates": cfg.n_gates,
        "rule": sign_rule(W1, W2, pairs, gates),
        "readout": class_readout(W1, W2, pairs, gates),
    }
