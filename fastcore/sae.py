"""One training step of sparse dictionaries (``toys.decomp.sae``: relu_l1, topk, batchtopk; SAE or transcoder, with
AuxK) in one pass: forward, selection of the kept latents, hand-written backward pass, Adam and the decoder's unit
rows, in place on the caller's arrays.

Shapes as in ``toys.decomp.sae``: I instances padded to the widest width W, batch x (B, d_in), target y (B, d_out),
W_enc (I, W, d_in), b_enc (I, W), W_dec (I, W, d_out), b_dec (I, d_out), b_pre (I, d_in) (a transcoder's input
centre; an SAE centres on b_dec). Instance i uses its first ``widths[i]`` latents; the rest never fire, and their
parameters (zero) stay zero.

The objective and its gradients are those of ``toys.decomp.sae.hand_pass`` (which see): ‖ŷ − y‖² summed over the
target's dims and averaged over the batch, + λ Σ z / B for relu_l1, + AuxK's α s ‖z_auxᵀ W_dec − e‖² / B for the
TopK kinds while an instance has latents dead for ``dead_steps`` steps. Only the kept latents of a sample (k for
TopK) enter the decoder and the backward pass, so past the encoder's dense product the work is sparse. Adam (or
AdamW: decoupled decay ``lr · weight_decay``) follows torch's update to the letter, with its moments in arrays the
caller owns (views of torch's optimizer state, so that either path can take the next step).

- ``SAEStep`` binds validated arrays once; ``grads(x, y)`` fills the gradient buffers, ``__call__(x, y, ...)`` takes a
  whole step. Both work in float32 (the trainer) or float64 (the tests' comparison with autograd); the gradients' sums may
  be reordered (fastmath reassociation), so the last bits differ from torch's.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fastcore import checks

ARCHS = ("relu_l1", "topk", "batchtopk")
PARAMS = ("W_enc", "b_enc", "W_dec", "b_dec", "b_pre")
FAST = {"reassoc", "contract", "nsz"}  # sums over latents and dims may reorder (vectorise); no NaN/inf assumption


# ------------------------------------------------------------------------------------------------ kernels


@njit(cache=True, nogil=True, inline="always")
def _keep_largest(top_v, top_i, n, k, v, j):
    """Put value ``v`` of latent ``j`` into ``top_v[:n]`` / ``top_i[:n]`` (the largest so far, descending, at most
    ``k``) if it is among the ``k`` largest; returns the new ``n``."""
    if n == k and v <= top_v[k - 1]:
        return n
    pos = n if n < k else k - 1
    while pos > 0 and top_v[pos - 1] < v:
        top_v[pos] = top_v[pos - 1]
        top_i[pos] = top_i[pos - 1]
        pos -= 1
    top_v[pos] = v
    top_i[pos] = j
    return n + 1 if n < k else n


@njit(cache=True, nogil=True, fastmath=FAST, inline="always")
def _back_latent(gout, W_dec, gW_dec, gb_enc, gW_enc, xc, i, b, j, v, gz):
    """Backpropagate the output gradient ``gout`` of sample ``b`` through latent ``j`` (value ``v``) of instance
    ``i``: into its decoder row, and, with ``gz`` added (the L1 penalty's λ, or 0), into its encoder row and bias."""
    for e in range(gout.shape[0]):
        gz += gout[e] * W_dec[i, j, e]
        gW_dec[i, j, e] += v * gout[e]
    gb_enc[i, j] += gz
    for d in range(xc.shape[1]):
        gW_enc[i, j, d] += gz * xc[b, d]


@njit(cache=True, nogil=True, fastmath=FAST)
def _grads(
    x, y, W_enc, b_enc, W_dec, b_dec, b_pre, transcoder, arch, widths, ks, penalty,
    since_fired, dead_steps, aux_k, aux_coef,
    gW_enc, gb_enc, gW_dec, gb_dec, gb_pre, losses, thr, fired,
):  # fmt: skip
    """Gradients of the instances' summed objective into g*, each instance's objective into ``losses``, BatchTopK's
    batch threshold into ``thr`` and whether each latent fired in the batch into ``fired`` (I, W)."""
    n_inst, W, d_in = W_enc.shape
    B, d_out = y.shape
    dt = W_enc.dtype
    xc = np.empty((B, d_in), dt)
    enc_t = np.empty((d_in, W), dt)
    pre = np.empty((B, W), dt)
    kept = np.empty((B, W), np.int32)  # each sample's kept latents
    n_kept = np.zeros(B, np.int32)
    diff = np.empty(d_out, dt)
    gout = np.empty(d_out, dt)
    top_v = np.empty(W, dt)
    top_i = np.empty(W, np.int32)
    flat = np.empty(B * W, dt)
    dead = np.zeros(W, np.bool_)
    consts = np.empty(2, dt)  # in the arrays' dtype: float32 work stays float32
    consts[0] = 2.0 / B
    consts[1] = 1.0 / B
    two_b = consts[0]
    gW_enc[:] = 0.0
    gb_enc[:] = 0.0
    gW_dec[:] = 0.0
    gb_dec[:] = 0.0
    gb_pre[:] = 0.0
    fired[:] = False
    for i in range(n_inst):
        w, k = widths[i], ks[i]
        centre = b_pre[i] if transcoder else b_dec[i]
        for d in range(d_in):
            for j in range(w):
                enc_t[d, j] = W_enc[i, j, d]
        for b in range(B):  # pre = W_enc (x − c) + b_enc, as axpy over the latents (vectorises)
            for d in range(d_in):
                xc[b, d] = x[b, d] - centre[d]
            for j in range(w):
                pre[b, j] = b_enc[i, j]
            for d in range(d_in):
                v = xc[b, d]
                for j in range(w):
                    pre[b, j] += v * enc_t[d, j]
        # ---- the kept latents of every sample
        if arch == 0:  # relu_l1
            for b in range(B):
                n = 0
                for j in range(w):
                    if pre[b, j] > 0:
                        kept[b, n] = j
                        n += 1
                n_kept[b] = n
        elif arch == 1:  # topk: the k largest, then those > 0
            for b in range(B):
                n = 0  # top_v[:n] sorted descending
                for j in range(w):
                    n = _keep_largest(top_v, top_i, n, k, pre[b, j], j)
                m = 0
                for t in range(n):
                    if top_v[t] > 0:
                        kept[b, m] = top_i[t]
                        m += 1
                n_kept[b] = m
        else:  # batchtopk: the B·k largest of ReLU(pre) over the batch
            for b in range(B):
                for j in range(w):
                    flat[b * w + j] = max(pre[b, j], 0.0)
            n_all = B * w
            part = np.partition(flat[:n_all], n_all - B * k)
            t_i = part[n_all - B * k]
            thr[i] = t_i
            for b in range(B):
                n = 0
                for j in range(w):
                    v = pre[b, j]
                    if v > 0 and v >= t_i:
                        kept[b, n] = j
                        n += 1
                n_kept[b] = n
        # ---- AuxK's dead latents
        n_dead = 0
        if arch != 0 and aux_coef > 0:
            for j in range(w):
                dead[j] = since_fired[i, j] >= dead_steps
                if dead[j]:
                    n_dead += 1
        k_aux = min(aux_k, n_dead)
        c_aux = aux_coef * min(n_dead / aux_k, 1.0) if n_dead > 0 else 0.0
        lam = penalty[i] * consts[1]
        loss = 0.0
        for b in range(B):
            # ŷ − y over the kept latents
            for e in range(d_out):
                diff[e] = b_dec[i, e] - y[b, e]
            for t in range(n_kept[b]):
                j = kept[b, t]
                v = pre[b, j]
                fired[i, j] = True
                for e in range(d_out):
                    diff[e] += v * W_dec[i, j, e]
            err = 0.0
            for e in range(d_out):
                err += diff[e] * diff[e]
                gout[e] = two_b * diff[e]
                gb_dec[i, e] += gout[e]
            loss += err
            for t in range(n_kept[b]):
                j = kept[b, t]
                v = pre[b, j]
                _back_latent(gout, W_dec, gW_dec, gb_enc, gW_enc, xc, i, b, j, v, lam)
                if arch == 0:
                    loss += penalty[i] * v
            if k_aux > 0:  # the k_aux largest pre-activations among the dead latents, kept as they are
                n = 0
                for j in range(w):
                    if dead[j]:
                        n = _keep_largest(top_v, top_i, n, k_aux, pre[b, j], j)
                for e in range(d_out):  # d_aux = z_auxᵀ W_dec − e = z_auxᵀ W_dec + (ŷ − y)
                    gout[e] = diff[e]
                for t in range(n):
                    j, v = top_i[t], top_v[t]
                    for e in range(d_out):
                        gout[e] += v * W_dec[i, j, e]
                a = 0.0
                for e in range(d_out):
                    a += gout[e] * gout[e]
                    gout[e] *= two_b * c_aux
                loss += c_aux * a
                for t in range(n):
                    _back_latent(gout, W_dec, gW_dec, gb_enc, gW_enc, xc, i, b, top_i[t], top_v[t], 0.0)
        losses[i] = loss / B
        # ∂L/∂c = −(Σ_B ∂L/∂pre) W_enc: b_pre's gradient for a transcoder, else joins b_dec's
        for j in range(w):
            g = gb_enc[i, j]
            if g != 0.0:
                for d in range(d_in):
                    if transcoder:
                        gb_pre[i, d] -= g * W_enc[i, j, d]
                    else:
                        gb_dec[i, d] -= g * W_enc[i, j, d]


@njit(cache=True, nogil=True, inline="always")
def _adam(p, g, m, v, step_size, bc2_sqrt, eps, decay, beta1, beta2):
    """torch's Adam(W) update of the flat parameter p with gradient g and moments m, v."""
    for n in range(p.size):
        gn = g[n]
        m[n] += (gn - m[n]) * (1.0 - beta1)
        v[n] = v[n] * beta2 + (1.0 - beta2) * gn * gn
        p[n] = p[n] * decay - step_size * m[n] / (math.sqrt(v[n]) / bc2_sqrt + eps)


@njit(cache=True, nogil=True)
def _step(
    x, y, W_enc, b_enc, W_dec, b_dec, b_pre, transcoder, arch, widths, ks, penalty,
    since_fired, dead_steps, aux_k, aux_coef,
    gW_enc, gb_enc, gW_dec, gb_dec, gb_pre, losses, thr, fired,
    flat_p, flat_g, flat_m, flat_v, step_size, bc2_sqrt, eps, decay, beta1, beta2,
):  # fmt: skip
    """``_grads``, then Adam on every (flat view of a) parameter, unit decoder rows and the steps since each latent
    fired."""
    _grads(
        x, y, W_enc, b_enc, W_dec, b_dec, b_pre, transcoder, arch, widths, ks, penalty,
        since_fired, dead_steps, aux_k, aux_coef,
        gW_enc, gb_enc, gW_dec, gb_dec, gb_pre, losses, thr, fired,
    )  # fmt: skip
    for t in range(len(flat_p)):
        _adam(flat_p[t], flat_g[t], flat_m[t], flat_v[t], step_size, bc2_sqrt, eps, decay, beta1, beta2)
    n_inst, W, d_out = W_dec.shape
    for i in range(n_inst):
        for j in range(W):
            s = 0.0
            for e in range(d_out):
                s += W_dec[i, j, e] * W_dec[i, j, e]
            inv = 1.0 / max(math.sqrt(s), 1e-12)
            for e in range(d_out):
                W_dec[i, j, e] *= inv
            since_fired[i, j] = 0.0 if fired[i, j] else since_fired[i, j] + 1.0


# ------------------------------------------------------------------------------------------------ public


def _buffer(a, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    if not (
        isinstance(a, np.ndarray)
        and a.dtype == dtype
        and a.shape == shape
        and a.flags.c_contiguous
        and a.flags.writeable
    ):
        raise ValueError(f"{name} must be a writable C-contiguous {np.dtype(dtype).name} array of shape {shape}")
    return a


class SAEStep:
    """A training step of the dictionaries whose parameters are ``params`` (a dict of the names in ``PARAMS``;
    b_pre for a transcoder only), updated in place, with Adam moments ``exp_avg``, ``exp_avg_sq`` (dicts of arrays
    shaped as the parameters), all C-contiguous, writable and of one float dtype (float32 or float64).

    ``arch`` in ``ARCHS``; ``widths`` (I,) live latents per instance, ``ks`` (I,) TopK's k (ignored by relu_l1),
    ``penalty`` (I,) λ (relu_l1); AuxK (topk, batchtopk) adds ``aux_k_coef`` > 0 with k_aux = ``aux_k`` over the
    latents not fired for ``dead_steps`` steps. ``grads`` (dict by parameter name), ``losses`` (I,), ``thr`` (I,),
    ``fired`` (I, W) are overwritten by every call.
    """

    def __init__(
        self,
        params: dict,
        exp_avg: dict,
        exp_avg_sq: dict,
        arch: str,
        widths,
        ks,
        penalty,
        dead_steps: int = 1,
        aux_k: int = 1,
        aux_k_coef: float = 0.0,
    ) -> None:
        self.arch = checks.choice(arch, "arch", ARCHS)
        self.transcoder = "b_pre" in params
        names = [n for n in PARAMS if n in params]
        extra = set(params) - set(PARAMS)
        if extra or len(names) != len(PARAMS) - (not self.transcoder):
            raise ValueError(
                f"params must hold {', '.join(PARAMS[:4])} (and b_pre for a transcoder), got {sorted(params)}"
            )
        W_enc = params["W_enc"]
        if not isinstance(W_enc, np.ndarray) or W_enc.dtype not in (np.float32, np.float64) or W_enc.ndim != 3:
            raise ValueError("params['W_enc'] must be a float32 or float64 array of shape (instances, width, d_in)")
        self.dtype = W_enc.dtype
        I, W, d_in = W_enc.shape
        d_out = params["W_dec"].shape[-1]
        shapes = {
            "W_enc": (I, W, d_in),
            "b_enc": (I, W),
            "W_dec": (I, W, d_out),
            "b_dec": (I, d_out),
            "b_pre": (I, d_in),
        }
        self.params = {n: _buffer(params[n], n, shapes[n], self.dtype) for n in names}
        self.exp_avg = {n: _buffer(exp_avg.get(n), f"exp_avg[{n}]", shapes[n], self.dtype) for n in names}
        self.exp_avg_sq = {n: _buffer(exp_avg_sq.get(n), f"exp_avg_sq[{n}]", shapes[n], self.dtype) for n in names}
        self.grads = {n: np.zeros(shapes[n], self.dtype) for n in names}
        self._gb_pre = self.grads.get("b_pre", np.zeros((I, d_in), self.dtype))
        self.widths = checks.array(widths, "widths", ("instances",), dtype=np.int64)
        self.ks = checks.array(ks, "ks", ("instances",), dtype=np.int64)
        self.penalty = checks.array(penalty, "penalty", ("instances",), dtype=self.dtype)
        if self.widths.shape != (I,) or self.ks.shape != (I,) or self.penalty.shape != (I,):
            raise ValueError(f"widths, ks and penalty must have shape ({I},)")
        if (self.widths < 1).any() or (self.widths > W).any():
            raise ValueError(f"widths must lie in [1, {W}], got {self.widths.tolist()}")
        if self.arch and ((self.ks < 1).any() or (self.ks > self.widths).any()):
            raise ValueError(f"ks must lie in [1, the instance's width], got {self.ks.tolist()}")
        self.dead_steps = checks.real(dead_steps, "dead_steps", 0.0)
        self.aux_k = checks.count(aux_k, "aux_k", 1, W)
        self.aux_k_coef = checks.real(aux_k_coef, "aux_k_coef", 0.0)
        self.shape = (I, W, d_in, d_out)
        self.losses = np.zeros(I, self.dtype)
        self.thr = np.zeros(I, self.dtype)
        self.fired = np.zeros((I, W), np.bool_)
        self._flat = tuple(
            tuple(d[n].reshape(-1) for n in names) for d in (self.params, self.grads, self.exp_avg, self.exp_avg_sq)
        )

    def _batch(self, x, y, since_fired):
        I, W, d_in, d_out = self.shape
        B = x.shape[0] if isinstance(x, np.ndarray) and x.ndim == 2 else -1
        x = _buffer(x, "x", (B, d_in), self.dtype)
        y = _buffer(y, "y", (B, d_out), self.dtype)
        since_fired = _buffer(since_fired, "since_fired", (I, W), self.dtype)
        return x, y, since_fired

    def _args(self, x, y, since_fired):
        p, g = self.params, self.grads
        b_pre = p.get("b_pre", p["b_dec"])
        return (
            x, y, p["W_enc"], p["b_enc"], p["W_dec"], p["b_dec"], b_pre, self.transcoder, self.arch,
            self.widths, self.ks, self.penalty, since_fired, self.dead_steps, self.aux_k, self.aux_k_coef,
            g["W_enc"], g["b_enc"], g["W_dec"], g["b_dec"], self._gb_pre, self.losses, self.thr, self.fired,
        )  # fmt: skip

    def grads_of(self, x, y, since_fired) -> np.ndarray:
        """Fill ``grads``, ``losses``, ``thr``, ``fired`` for the batch x (B, d_in), y (B, d_out) with the dead
        latents read from ``since_fired`` (I, W), changing no parameter. -> losses"""
        _grads(*self._args(*self._batch(x, y, since_fired)))
        return self.losses

    def __call__(
        self, x, y, since_fired, lr: float, t: int, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0
    ) -> np.ndarray:
        """One step on the batch x, y: gradients as ``grads_of``, then Adam(W)'s t-th update (t ≥ 1) of every
        parameter at ``lr``, the decoder rows back to unit norm and ``since_fired`` advanced (0 where a latent
        fired, else + 1), in place. -> losses (I,)"""
        beta1, beta2 = betas
        step_size = lr / (1.0 - beta1**t)
        bc2_sqrt = math.sqrt(1.0 - beta2**t)
        _step(
            *self._args(*self._batch(x, y, since_fired)), *self._flat,
            step_size, bc2_sqrt, eps, 1.0 - lr * weight_decay, beta1, beta2,
        )  # fmt: skip
        return self.losses


__all__ = ["ARCHS", "SAEStep"]
