"""One TMS training step's batch, forward, loss and hand-written gradients in a single pass over the samples.

Shapes as in ``toys``: W (I, H, F), b (I, F), feature probability p (I, F), importance (F,), batch x (I, B, F).

The model (``linear``: x' = WᵀWx + b; ``relu_output``: x' = act(WᵀWx + b); ``relu_hidden``:
x' = act(Wᵀ act(Wx) + b)) and its loss, the importance-weighted squared error averaged over batch and features
per instance, are those of ``toys.models``. The gradients are of the sum of the per-instance losses.

Batches come from one uniform draw ``u`` per (instance, sample, feature), as ``toys.data`` describes: a feature
is present iff ``u < p`` and then ``u / p`` feeds the value law; correlated pairs share the first feature's
presence and take the second's own draw as value; anticorrelated pairs split ``[0, 2p)`` of the first's draw.
The draws are counter-based, so any sample of any step is reproducible on its own, whatever the thread count:
``u = top 24 bits of splitmix64(key + (n + 1)·γ) / 2²⁴`` with ``n = ((step·I + i)·B + s)·F + f`` — the SplitMix64
sequence of ``key`` read at position n.

- ``seed_key(seed)`` turns a config's seed into the stream key.
- ``tms_batch(...)`` returns the batch a step draws (for checks and tests).
- ``tms_grads(...)`` returns (losses (I,), dW (I, H, F), db (I, F)) of one step, drawing the batch or taking one.
- ``TMSGrads`` binds validated arrays once and fills its gradient buffers in place each call (the trainer's path).

Samples are processed feature-major in blocks of 256 so that loops over samples vectorise; per-sample maths is
float32 (as torch's), sums over a block are float32 and sums of blocks float64. Work items (instance, batch chunk)
are chosen from the shapes alone and run in parallel; their partial sums are added in a fixed order, so results
do not depend on the number of threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from fastcore import checks

MODELS = ("linear", "relu_output", "relu_hidden")
ACTIVATIONS = ("relu", "gelu", "silu", "leaky_relu", "tanh")
VALUE_LAWS = ("uniform01", "one", "discrete123", "uniform_half_one")
LEAKY_SLOPE = 0.01
_CHUNK_MIN = 128  # samples per work item at least
_WORK_ITEMS = 16  # aim for this many (instance, chunk) work items

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S40 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(40)
_INV24 = 1.0 / 16777216.0
_IF = ("instances", "features")  # axes of b and p


# ------------------------------------------------------------------------------------------------ kernels


@njit(cache=True, nogil=True, inline="always")
def _uniform(key, n):  # float in [0, 1) with 24 random bits: SplitMix64 of key at position n
    z = key + (n + np.uint64(1)) * _GAMMA
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = z ^ (z >> _S31)
    return np.float32(np.int32(z >> _S40)) * np.float32(_INV24)


@njit(cache=True, nogil=True, inline="always")
def _counter(step, n_inst, i, n_batch, s, n_feat):  # position of feature 0 of sample s of instance i at step
    return ((step * np.uint64(n_inst) + np.uint64(i)) * np.uint64(n_batch) + np.uint64(s)) * np.uint64(n_feat)


_FAST = {"reassoc", "contract", "nsz"}  # sums may be reordered (vectorised); no approximate division
_BLOCK = 256  # samples processed together, feature-major, so that loops over samples vectorise


@njit(cache=True, nogil=True, fastmath=_FAST)
def _draw_block(key, start, n_feat, n_samples, p, law, n_corr, n_anti, X):
    # X[:, :n_samples] (F, S) f32 <- samples whose feature 0 sits at counter start, start + F, ...
    stride = np.uint64(n_feat)
    for f in range(n_feat):
        base = start + np.uint64(f)
        for s in range(n_samples):
            X[f, s] = _uniform(key, base + np.uint64(s) * stride)
    for j in range(n_anti):  # seconds first: they read the first's raw draw
        first, second = 2 * n_corr + 2 * j, 2 * n_corr + 2 * j + 1
        pf = p[first]
        for s in range(n_samples):
            u = X[first, s]
            X[second, s] = (u - pf) / pf if pf <= u < np.float32(2.0) * pf else np.float32(-1.0)
    for j in range(n_corr):
        first, second = 2 * j, 2 * j + 1
        pf = p[first]
        for s in range(n_samples):
            X[second, s] = X[second, s] if X[first, s] < pf else np.float32(-1.0)
    seconds = 2 * n_corr + 2 * n_anti
    for f in range(n_feat):  # now every row holds the value draw, or -1 where absent
        if f < seconds and f % 2 == 1:
            for s in range(n_samples):
                X[f, s] = _value(X[f, s], law) if X[f, s] >= np.float32(0.0) else np.float32(0.0)
        else:
            pf = p[f]
            for s in range(n_samples):
                u = X[f, s]
                X[f, s] = _value(u / pf, law) if u < pf else np.float32(0.0)


@njit(cache=True, nogil=True, inline="always")
def _value(v, law):  # v f32 in [0, 1) -> the law's value
    if law == 0:
        return v
    if law == 1:
        return np.float32(1.0)
    if law == 2:
        return min(np.float32(math.floor(np.float32(3.0) * v)), np.float32(2.0)) + np.float32(1.0)
    return np.float32(0.5) + np.float32(0.5) * v


@njit(cache=True, nogil=True, fastmath=_FAST)
def _act_rows(Z, A, n, act):  # A[:, :n] = act(Z[:, :n])
    for r in range(Z.shape[0]):
        z, a = Z[r], A[r]
        if act == 0:
            for s in range(n):
                a[s] = max(z[s], np.float32(0.0))
        elif act == 1:
            for s in range(n):
                a[s] = np.float32(0.5) * z[s] * (np.float32(1.0) + math.erf(z[s] * np.float32(0.70710677)))
        elif act == 2:
            for s in range(n):
                a[s] = z[s] / (np.float32(1.0) + math.exp(-z[s]))
        elif act == 3:
            for s in range(n):
                a[s] = z[s] if z[s] > np.float32(0.0) else np.float32(LEAKY_SLOPE) * z[s]
        else:
            for s in range(n):
                a[s] = math.tanh(z[s])


@njit(cache=True, nogil=True, fastmath=_FAST)
def _times_dact_rows(G, Z, A, n, act):  # G[:, :n] *= act'(Z) (A = act(Z))
    for r in range(Z.shape[0]):
        g, z, a = G[r], Z[r], A[r]
        if act == 0:
            for s in range(n):
                g[s] = g[s] if z[s] > np.float32(0.0) else np.float32(0.0)
        elif act == 1:
            for s in range(n):
                zs = z[s]
                g[s] *= np.float32(0.5) * (np.float32(1.0) + math.erf(zs * np.float32(0.70710677))) + (
                    zs * np.float32(0.3989423) * math.exp(np.float32(-0.5) * zs * zs)
                )
        elif act == 2:
            for s in range(n):
                sig = np.float32(1.0) / (np.float32(1.0) + math.exp(-z[s]))
                g[s] *= sig * (np.float32(1.0) + z[s] * (np.float32(1.0) - sig))
        elif act == 3:
            for s in range(n):
                g[s] = g[s] if z[s] > np.float32(0.0) else np.float32(LEAKY_SLOPE) * g[s]
        else:
            for s in range(n):
                g[s] *= np.float32(1.0) - a[s] * a[s]


@njit(cache=True, nogil=True, fastmath=_FAST)
def _block_grads(Wi, bi, imp, X, n, model, act, scale, HP, HA, Z, A, G, GH, dW, db):
    # one block of n samples, feature-major X (F, S); adds to dW (H, F) f64, db (F,) f64; returns the block's
    # importance-weighted squared error (f64)
    n_hid, n_feat = Wi.shape
    for k in range(n_hid):  # HP = W X
        hp = HP[k]
        for s in range(n):
            hp[s] = np.float32(0.0)
        for f in range(n_feat):
            w, x = Wi[k, f], X[f]
            for s in range(n):
                hp[s] += w * x[s]
    if model == 2:
        _act_rows(HP, HA, n, act)
    else:
        for k in range(n_hid):
            for s in range(n):
                HA[k, s] = HP[k, s]
    for f in range(n_feat):  # Z = Wᵀ HA + b
        z = Z[f]
        for s in range(n):
            z[s] = bi[f]
        for k in range(n_hid):
            w, h = Wi[k, f], HA[k]
            for s in range(n):
                z[s] += w * h[s]
    if model == 0:
        for f in range(n_feat):
            for s in range(n):
                A[f, s] = Z[f, s]
    else:
        _act_rows(Z, A, n, act)
    loss = 0.0
    for f in range(n_feat):  # G = dL/dZ
        x, a, g = X[f], A[f], G[f]
        err = np.float32(0.0)
        c = np.float32(scale * imp[f])
        for s in range(n):
            d = a[s] - x[s]
            err += d * d
            g[s] = c * d
        loss += np.float64(imp[f]) * np.float64(err)
    if model != 0:
        _times_dact_rows(G, Z, A, n, act)
    for f in range(n_feat):
        g = G[f]
        acc = np.float32(0.0)
        for s in range(n):
            acc += g[s]
        db[f] += acc
    for k in range(n_hid):  # GH = W G (⊙ act'(HP) for relu_hidden)
        gh = GH[k]
        for s in range(n):
            gh[s] = np.float32(0.0)
        for f in range(n_feat):
            w, g = Wi[k, f], G[f]
            for s in range(n):
                gh[s] += w * g[s]
    if model == 2:
        _times_dact_rows(GH, HP, HA, n, act)
    for k in range(n_hid):  # dW = HA Gᵀ + GH Xᵀ
        h, gh = HA[k], GH[k]
        for f in range(n_feat):
            g, x = G[f], X[f]
            acc = np.float32(0.0)
            for s in range(n):
                acc += h[s] * g[s] + gh[s] * x[s]
            dW[k, f] += acc
    return loss


@njit(cache=True, nogil=True, parallel=True)
def _grads_kernel(W, b, p, imp, xin, key, step, n_batch, model, act, law, n_corr, n_anti, n_chunks, losses, dW, db):
    # W (I, H, F) f32, b (I, F) f32, p (I, F) f32, imp (F,) f32, xin (I, B, F) f32 or (0, 0, 0) to draw
    # -> losses (I,) f32, dW (I, H, F) f32, db (I, F) f32
    n_inst, n_hid, n_feat = W.shape
    given = xin.shape[0] > 0
    chunk = (n_batch + n_chunks - 1) // n_chunks
    part_loss = np.zeros((n_inst, n_chunks))
    part_dW = np.zeros((n_inst, n_chunks, n_hid, n_feat))
    part_db = np.zeros((n_inst, n_chunks, n_feat))
    scale = 2.0 / (n_batch * n_feat)
    for item in prange(n_inst * n_chunks):
        i, c = item // n_chunks, item % n_chunks
        X = np.empty((n_feat, _BLOCK), dtype=np.float32)
        Z = np.empty((n_feat, _BLOCK), dtype=np.float32)
        A = np.empty((n_feat, _BLOCK), dtype=np.float32)
        G = np.empty((n_feat, _BLOCK), dtype=np.float32)
        HP = np.empty((n_hid, _BLOCK), dtype=np.float32)
        HA = np.empty((n_hid, _BLOCK), dtype=np.float32)
        GH = np.empty((n_hid, _BLOCK), dtype=np.float32)
        acc_dW = np.zeros((n_hid, n_feat))
        acc_db = np.zeros(n_feat)
        loss = 0.0
        stop = min(n_batch, (c + 1) * chunk)
        for s0 in range(c * chunk, stop, _BLOCK):
            n = min(_BLOCK, stop - s0)
            if given:
                for f in range(n_feat):
                    for s in range(n):
                        X[f, s] = xin[i, s0 + s, f]
            else:
                _draw_block(
                    key, _counter(step, n_inst, i, n_batch, s0, n_feat), n_feat, n, p[i], law, n_corr, n_anti, X
                )
            loss += _block_grads(W[i], b[i], imp, X, n, model, act, scale, HP, HA, Z, A, G, GH, acc_dW, acc_db)
        part_loss[i, c] = loss
        part_dW[i, c] = acc_dW
        part_db[i, c] = acc_db
    for i in range(n_inst):
        loss = 0.0
        for c in range(n_chunks):
            loss += part_loss[i, c]
        losses[i] = loss / (n_batch * n_feat)
        for k in range(n_hid):
            for f in range(n_feat):
                acc = 0.0
                for c in range(n_chunks):
                    acc += part_dW[i, c, k, f]
                dW[i, k, f] = acc
        for f in range(n_feat):
            acc = 0.0
            for c in range(n_chunks):
                acc += part_db[i, c, f]
            db[i, f] = acc


@njit(cache=True, nogil=True, parallel=True)
def _batch_kernel(p, key, step, n_batch, law, n_corr, n_anti):  # p (I, F) f32 -> x (I, B, F) f32
    n_inst, n_feat = p.shape
    out = np.empty((n_inst, n_batch, n_feat), dtype=np.float32)
    for i in prange(n_inst):
        X = np.empty((n_feat, _BLOCK), dtype=np.float32)
        for s0 in range(0, n_batch, _BLOCK):
            n = min(_BLOCK, n_batch - s0)
            _draw_block(key, _counter(step, n_inst, i, n_batch, s0, n_feat), n_feat, n, p[i], law, n_corr, n_anti, X)
            for s in range(n):
                for f in range(n_feat):
                    out[i, s0 + s, f] = X[f, s]
    return out


# ---------------------------------------------------------------------------------------------- wrappers


def _check_pairs(n_feat: int, correlated_pairs, anticorrelated_pairs) -> tuple[int, int]:
    c = checks.count(correlated_pairs, "correlated_pairs", 0, n_feat // 2)
    a = checks.count(anticorrelated_pairs, "anticorrelated_pairs", 0, (n_feat - 2 * c) // 2)
    return c, a


def seed_key(seed: int) -> int:
    """The stream key of a seed: SplitMix64's output at the seed, kept to 63 bits (a signed int64 anywhere)."""
    mask = (1 << 64) - 1
    z = (checks.count(seed, "seed", 0, mask) + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return (z ^ (z >> 31)) >> 1


def n_chunks(n_instances: int, n_batch: int) -> int:
    """Batch chunks per instance: enough work items to share among threads, chosen from the shapes alone."""
    want = -(-_WORK_ITEMS // n_instances)
    return max(1, min(want, n_batch // _CHUNK_MIN))


def tms_batch(
    p,
    key: int,
    step: int,
    n_batch: int,
    value_law: str = "uniform01",
    correlated_pairs: int = 0,
    anticorrelated_pairs: int = 0,
) -> np.ndarray:
    """The batch (I, B, F) float32 that step ``step`` draws from feature probabilities p (I, F) and ``key``."""
    p = checks.array(p, "p", _IF, all_finite=False)
    c, a = _check_pairs(p.shape[1], correlated_pairs, anticorrelated_pairs)
    key = checks.count(key, "key", 0, 2**64 - 1)
    step = checks.count(step, "step", 0, 2**40)
    n_batch = checks.count(n_batch, "n_batch", 1, 2**20)
    law = checks.choice(value_law, "value_law", VALUE_LAWS)
    return _batch_kernel(p, np.uint64(key), np.uint64(step), n_batch, law, c, a)


class TMSGrads:
    """Gradients of one TMS step into fixed buffers, from arrays validated once.

    ``W``, ``b`` are read at every call (they may be updated in place in between: pass views of the live
    parameters); ``dW``, ``db`` (float32, W's and b's shapes) and ``losses`` (I,) are overwritten by every call.
    """

    def __init__(
        self,
        W,
        b,
        p,
        importance,
        key: int,
        n_batch: int,
        model: str = "relu_output",
        activation: str = "relu",
        value_law: str = "uniform01",
        correlated_pairs: int = 0,
        anticorrelated_pairs: int = 0,
        dW=None,
        db=None,
    ) -> None:
        for name, arr, ndim in (("W", W, 3), ("b", b, 2), ("p", p, 2), ("importance", importance, 1)):
            checks.float32_buffer(arr, name, ndim)
        n_inst, _, n_feat = W.shape
        if b.shape != (n_inst, n_feat) or p.shape != (n_inst, n_feat) or importance.shape != (n_feat,):
            raise ValueError(f"shapes disagree: W {W.shape}, b {b.shape}, p {p.shape}, importance {importance.shape}")
        self.W, self.b, self.p, self.importance = W, b, p, importance
        self.key = np.uint64(checks.count(key, "key", 0, 2**64 - 1))
        self.n_batch = checks.count(n_batch, "n_batch", 1, 2**20)
        self.model = checks.choice(model, "model", MODELS)
        self.activation = checks.choice(activation, "activation", ACTIVATIONS)
        self.value_law = checks.choice(value_law, "value_law", VALUE_LAWS)
        self.pairs = _check_pairs(n_feat, correlated_pairs, anticorrelated_pairs)
        self.n_chunks = n_chunks(n_inst, self.n_batch)
        self.dW = np.zeros_like(W) if dW is None else dW
        self.db = np.zeros_like(b) if db is None else db
        for name, arr, like in (("dW", self.dW, W), ("db", self.db, b)):
            checks.float32_buffer(arr, name, like.ndim, like.shape, writable=True)
        self.losses = np.zeros(n_inst, dtype=np.float32)
        self._no_batch = np.zeros((0, 0, 0), dtype=np.float32)

    def __call__(self, step: int, x=None) -> np.ndarray:
        """Fill dW, db and losses for step ``step``, drawing its batch, or from the batch ``x`` (I, B, F)."""
        if x is None:
            x = self._no_batch
        else:
            x = checks.array(x, "x", ("instances", "batch", "features"), all_finite=False)
            if x.shape != (self.W.shape[0], self.n_batch, self.W.shape[2]):
                raise ValueError(f"x must have shape {(self.W.shape[0], self.n_batch, self.W.shape[2])}, got {x.shape}")
        _grads_kernel(
            self.W,
            self.b,
            self.p,
            self.importance,
            x,
            self.key,
            np.uint64(step),
            self.n_batch,
            self.model,
            self.activation,
            self.value_law,
            *self.pairs,
            self.n_chunks,
            self.losses,
            self.dW,
            self.db,
        )
        return self.losses


def tms_grads(
    W,
    b,
    p,
    importance,
    key: int,
    step: int,
    n_batch: int,
    model: str = "relu_output",
    activation: str = "relu",
    value_law: str = "uniform01",
    correlated_pairs: int = 0,
    anticorrelated_pairs: int = 0,
    x=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(losses (I,), dW (I, H, F), db (I, F)) of one step at (W, b): from the batch ``x`` if given, else drawn."""
    W = checks.array(W, "W", ("instances", "hidden", "features"), all_finite=False)
    b = checks.array(b, "b", _IF, all_finite=False)
    p = checks.array(p, "p", _IF, all_finite=False)
    importance = checks.array(importance, "importance", ("features",), all_finite=False)
    grads = TMSGrads(
        W, b, p, importance, key, n_batch, model, activation, value_law, correlated_pairs, anticorrelated_pairs
    )
    losses = grads(checks.count(step, "step", 0, 2**40), x)
    return losses.copy(), grads.dW, grads.db
