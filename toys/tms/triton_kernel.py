"""The TMS step's gradients on CUDA in one Triton kernel: batch draw, forward, loss and backward, no batch in memory.

Same maths and the same counter-based draws as ``fastcore.tms`` (SplitMix64 of the key at position
``((step·I + i)·B + s)·F + f``, IEEE division for ``u / p``), so a step draws the same batch on the GPU as on the
CPU. Each program takes one instance and one chunk of the batch, holds W (H, F) in registers and walks its chunk
in blocks of samples; the four products per block (W x, Wᵀ h, W g, and hᵀ g + ghᵀ x summed over the block) go
through ``tl.dot`` with sides padded to 16, in ``PRECISION`` "tf32x3" (three TF32 tensor-core passes, about
float32's accuracy: measured relative error of losses and gradients ≤ 7e-7 against float64; "ieee" is exact
float32 on the FMA units, 1.5× slower on the sweep). The partial sums of the chunks are added by ``torch.sum``
(deterministic). The step number is read from a device tensor, so a captured CUDA graph replays step after step
without the host.

Imported only where CUDA and Triton are present (``toys.tms.engines`` checks).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

try:
    from triton.language.extra import libdevice

    _HAS_LIBDEVICE = True
except ImportError:  # older Triton
    libdevice = None
    _HAS_LIBDEVICE = False

MAX_TILE = 2048  # HP·FP (hidden × features, padded to powers of two ≥ 16) at most: W stays in registers
PRECISION = "tf32x3"  # of the products in tl.dot: float32-class (3 TF32 passes), or "ieee" (exact fp32, slower)
PROGRAMS_PER_SM = 8  # programs launched per SM at least, where the batch splits that far
_MODELS = ("linear", "relu_output", "relu_hidden")
_ACTIVATIONS = ("relu", "gelu", "silu", "leaky_relu", "tanh")
_VALUE_LAWS = ("uniform01", "one", "discrete123", "uniform_half_one")


@triton.jit
def _uniform(key, n):  # n: uint64 positions -> float32 in [0, 1) with 24 random bits
    z = key + (n + 1) * 0x9E3779B97F4A7C15
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    z = z ^ (z >> 31)
    return (z >> 40).to(tl.int32).to(tl.float32) * 5.9604644775390625e-08


@triton.jit
def _value(v, LAW: tl.constexpr):
    if LAW == 0:
        r = v
    elif LAW == 1:
        r = v * 0.0 + 1.0
    elif LAW == 2:
        r = tl.minimum(tl.floor(3.0 * v), 2.0) + 1.0
    else:
        r = 0.5 + 0.5 * v
    return r


@triton.jit
def _tanh(z, HAS_LIBDEVICE: tl.constexpr):
    if HAS_LIBDEVICE:
        r = libdevice.tanh(z)
    else:
        r = 2.0 * tl.sigmoid(2.0 * z) - 1.0
    return r


@triton.jit
def _act(z, ACT: tl.constexpr, HAS_LIBDEVICE: tl.constexpr):
    if ACT == 0:
        r = tl.maximum(z, 0.0)
    elif ACT == 1:
        r = 0.5 * z * (1.0 + tl.erf(z * 0.7071067811865476))
    elif ACT == 2:
        r = z * tl.sigmoid(z)
    elif ACT == 3:
        r = tl.where(z > 0.0, z, 0.01 * z)
    else:
        r = _tanh(z, HAS_LIBDEVICE)
    return r


@triton.jit
def _times_dact(g, z, a, ACT: tl.constexpr):  # g ⊙ act'(z), a = act(z)
    if ACT == 0:
        r = tl.where(z > 0.0, g, 0.0)
    elif ACT == 1:
        r = g * (0.5 * (1.0 + tl.erf(z * 0.7071067811865476)) + z * 0.3989422804014327 * tl.exp(-0.5 * z * z))
    elif ACT == 2:
        s = tl.sigmoid(z)
        r = g * (s * (1.0 + z * (1.0 - s)))
    elif ACT == 3:
        r = tl.where(z > 0.0, g, 0.01 * g)
    else:
        r = g * (1.0 - a * a)
    return r


@triton.jit
def _grads_kernel(
    W_ptr,
    b_ptr,
    p_ptr,
    imp_ptr,
    x_ptr,
    step_ptr,
    key_ptr,
    loss_ptr,
    dW_ptr,
    db_ptr,
    n_inst,
    n_batch,
    chunk,
    scale,
    inv_bf,
    H: tl.constexpr,
    F: tl.constexpr,
    HP: tl.constexpr,
    FP: tl.constexpr,
    BB: tl.constexpr,
    MODEL: tl.constexpr,
    ACT: tl.constexpr,
    LAW: tl.constexpr,
    N_CORR: tl.constexpr,
    N_ANTI: tl.constexpr,
    GIVEN: tl.constexpr,
    HAS_LIBDEVICE: tl.constexpr,
    PREC: tl.constexpr,
):
    # W (I, H, F), b (I, F), p (I, F), imp (F,), x (I, B, F) if GIVEN, step and key int64 scalars
    # -> per (instance, chunk):
    # loss_ptr (I, S), dW_ptr (I, S, H, F), db_ptr (I, S, F), S = number of chunks
    i = tl.program_id(0)
    c = tl.program_id(1)
    n_split = tl.num_programs(1)
    offs_f = tl.arange(0, FP)
    offs_h = tl.arange(0, HP)
    mf = offs_f < F
    wmask = (offs_h[:, None] < H) & mf[None, :]
    w_offs = offs_h[:, None] * F + offs_f[None, :]
    Wt = tl.load(W_ptr + i * (H * F) + w_offs, mask=wmask, other=0.0)  # (HP, FP)
    bt = tl.load(b_ptr + i * F + offs_f, mask=mf, other=0.0)
    pt = tl.load(p_ptr + i * F + offs_f, mask=mf, other=1.0)
    imp = tl.load(imp_ptr + offs_f, mask=mf, other=0.0)
    second = (offs_f < 2 * (N_CORR + N_ANTI)) & (offs_f % 2 == 1)
    corr2 = (second & (offs_f < 2 * N_CORR))[None, :]
    anti2 = (second & (offs_f >= 2 * N_CORR))[None, :]
    pprev = tl.load(p_ptr + i * F + offs_f - 1, mask=mf & (offs_f > 0), other=1.0)[None, :]
    pb = tl.zeros((BB, FP), dtype=tl.float32) + pt[None, :]  # p and the pair's first p, as full blocks
    pprevb = tl.zeros((BB, FP), dtype=tl.float32) + pprev
    step = tl.load(step_ptr).to(tl.uint64)
    keyu = tl.load(key_ptr).to(tl.uint64)
    row0 = (step * n_inst + i) * n_batch
    gw = imp * scale
    WtT = tl.trans(Wt)  # (FP, HP)
    acc_dW = tl.zeros((HP, FP), dtype=tl.float32)
    acc_db = tl.zeros((BB, FP), dtype=tl.float32)
    acc_sq = tl.zeros((BB, FP), dtype=tl.float32)
    s_begin = c * chunk
    s_end = tl.minimum(s_begin + chunk, n_batch)
    for s0 in range(s_begin, s_end, BB):
        offs_s = s0 + tl.arange(0, BB)
        m2 = (offs_s < s_end)[:, None] & mf[None, :]
        if GIVEN:
            x_offs = (i.to(tl.int64) * n_batch + offs_s[:, None]) * F + offs_f[None, :]
            x = tl.load(x_ptr + x_offs, mask=m2, other=0.0)
        else:
            pos = (row0 + offs_s[:, None]) * F + offs_f[None, :]  # (BB, FP) uint64
            u = _uniform(keyu, pos)
            if N_CORR + N_ANTI > 0:
                up = _uniform(keyu, pos - 1)  # the pair's first feature
                present = tl.where(corr2, up < pprev, tl.where(anti2, (up >= pprev) & (up < 2.0 * pprev), u < pb))
                v = tl.where(corr2, u, tl.where(anti2, tl.math.div_rn(up - pprev, pprevb), tl.math.div_rn(u, pb)))
            else:
                present = u < pb
                v = tl.math.div_rn(u, pb)  # IEEE division, as on the CPU ('/' is approximate for float32)
            x = tl.where(present & m2, _value(v, LAW), 0.0)
        hp = tl.dot(x, WtT, input_precision=PREC)  # (BB, HP)
        if MODEL == 2:
            h = _act(hp, ACT, HAS_LIBDEVICE)
        else:
            h = hp
        z = tl.dot(h, Wt, input_precision=PREC) + bt[None, :]  # (BB, FP)
        if MODEL == 0:
            out = z
        else:
            out = _act(z, ACT, HAS_LIBDEVICE)
        d = tl.where(m2, out - x, 0.0)
        acc_sq += d * d
        g = d * gw[None, :]
        if MODEL != 0:
            g = _times_dact(g, z, out, ACT)
        acc_db += g
        gh = tl.dot(g, WtT, input_precision=PREC)  # (BB, HP)
        if MODEL == 2:
            gh = _times_dact(gh, hp, h, ACT)
        acc_dW = tl.dot(tl.trans(h), g, acc_dW, input_precision=PREC)  # dW += hᵀ g + ghᵀ x
        acc_dW = tl.dot(tl.trans(gh), x, acc_dW, input_precision=PREC)
    part = i * n_split + c
    tl.store(loss_ptr + part, tl.sum(tl.sum(acc_sq, axis=0) * imp, axis=0) * inv_bf)
    tl.store(dW_ptr + part * (H * F) + w_offs, acc_dW, mask=wmask)
    tl.store(db_ptr + part * F + offs_f, tl.sum(acc_db, axis=0), mask=mf)


def _padded(n: int) -> int:
    """The next power of two, at least 16 (the smallest side tl.dot takes)."""
    return max(16, 1 << max(0, (n - 1).bit_length()))


def fits(n_hidden: int, n_features: int) -> bool:
    """Whether the kernel takes these sizes (W stays in registers)."""
    return _padded(n_hidden) * _padded(n_features) <= MAX_TILE


class TritonTMSGrads:
    """Fills ``dW``, ``db``, ``losses`` for the step held in the device tensor ``step``, drawing the batch in the
    kernel, or from a given batch. Every launch is graph-capturable (fixed buffers, no host sync)."""

    def __init__(
        self,
        W: torch.Tensor,
        b: torch.Tensor,
        p: torch.Tensor,
        importance: torch.Tensor,
        key: int,
        n_batch: int,
        model: str,
        activation: str,
        value_law: str,
        correlated_pairs: int,
        anticorrelated_pairs: int,
        step: torch.Tensor,
        losses: torch.Tensor,
        dW: torch.Tensor,
        db: torch.Tensor,
    ) -> None:
        n_inst, n_hid, n_feat = W.shape
        if not fits(n_hid, n_feat):
            raise ValueError(f"n_hidden={n_hid}, n_features={n_feat} are too large for the fused kernel")
        if not 0 <= key < 2**63:
            raise ValueError(f"key={key} must be in [0, 2**63)")
        self.W, self.b, self.p, self.importance, self.step = W, b, p, importance, step
        self.key = torch.tensor(key, dtype=torch.int64, device=W.device)
        self.losses, self.dW, self.db = losses, dW, db
        self.n_batch = n_batch
        hp, fp = _padded(n_hid), _padded(n_feat)
        bb = max(16, min(128, 4096 // fp))  # samples per block: a (BB, FP) tile of 4,096 values at most
        self.meta = {
            "H": n_hid,
            "F": n_feat,
            "HP": hp,
            "FP": fp,
            "BB": bb,
            "MODEL": _MODELS.index(model),
            "ACT": _ACTIVATIONS.index(activation),
            "LAW": _VALUE_LAWS.index(value_law),
            "N_CORR": correlated_pairs,
            "N_ANTI": anticorrelated_pairs,
            "HAS_LIBDEVICE": _HAS_LIBDEVICE,
            "PREC": PRECISION,
        }
        sms = torch.cuda.get_device_properties(W.device).multi_processor_count
        blocks = -(-n_batch // bb)
        split = max(1, min(blocks, -(-PROGRAMS_PER_SM * sms // n_inst)))
        self.chunk = -(-blocks // split) * bb
        self.n_split = -(-n_batch // self.chunk)
        if self.n_split == 1:
            self._loss, self._dW, self._db = losses, dW, db
        else:
            self._loss = torch.zeros(n_inst, self.n_split, device=W.device)
            self._dW = torch.zeros(n_inst, self.n_split, n_hid, n_feat, device=W.device)
            self._db = torch.zeros(n_inst, self.n_split, n_feat, device=W.device)
        self.scale = 2.0 / (n_batch * n_feat)

    def __call__(self, x: torch.Tensor | None = None) -> torch.Tensor:
        n_inst = self.W.shape[0]
        given = x is not None
        _grads_kernel[(n_inst, self.n_split)](
            self.W,
            self.b,
            self.p,
            self.importance,
            x if given else self.W,
            self.step,
            self.key,
            self._loss,
            self._dW,
            self._db,
            n_inst,
            self.n_batch,
            self.chunk,
            self.scale,
            1.0 / (self.n_batch * self.meta["F"]),
            GIVEN=given,
            num_warps=4,
            **self.meta,
        )
        if self.n_split > 1:
            torch.sum(self._loss, dim=1, out=self.losses)
            torch.sum(self._dW, dim=1, out=self.dW)
            torch.sum(self._db, dim=1, out=self.db)
        return self.losses
