"""Input checks of fastcore's public functions, before anything reaches a kernel.

Each check takes one argument and its name, and returns it cast for a kernel (C-contiguous, a fixed dtype; a plain
int or float) or raises a ValueError that names the argument, what it got and what is allowed.
"""

from __future__ import annotations

import math

import numpy as np

# ------------------------------------------------------------------------------------------------- scalars


def count(value, name: str, low: int, high: int | None = None) -> int:
    """An integer (not a bool) in [low, high]; no upper bound when ``high`` is None."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < low
        or (high is not None and value > high)
    ):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return int(value)


def real(value, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    """A finite real number (not a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        allowed = "" if (low, high) == (-math.inf, math.inf) else f" in [{low}, {high}]"
        raise ValueError(f"{name} must be a finite number{allowed}, got {value!r}")
    return value


def choice(value: str, name: str, choices: tuple[str, ...]) -> int:
    """The index of ``value`` in ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not allowed: choose one of {', '.join(choices)}")
    return choices.index(value)


# -------------------------------------------------------------------------------------------------- arrays


def dims(a, name: str, axes: tuple[str, ...]) -> None:
    """``a`` (a numpy array or a scipy.sparse matrix) has one dimension per name in ``axes``."""
    if a.ndim != len(axes):
        raise ValueError(f"{name} must have shape ({', '.join(axes)}), got shape {a.shape}")


def numeric(a, name: str, boolean: bool = False) -> None:
    """``a`` holds real numbers (or booleans, when ``boolean``), not complex numbers, strings or objects."""
    real_dtype = np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating)
    if not (real_dtype or (boolean and a.dtype == np.bool_)):
        kind = "real numeric or boolean" if boolean else "real numeric"
        raise ValueError(f"{name} must be a {kind} array, got dtype {a.dtype}")


def finite(values: np.ndarray, name: str, where: str = "") -> None:
    """No NaN or infinity among ``values`` (``where`` says which part of the argument they are)."""
    if not np.isfinite(values).all():
        raise ValueError(f"{name} has NaN or infinite entries{where}")


def array(a, name: str, axes: tuple[str, ...], dtype=np.float32, all_finite: bool = True) -> np.ndarray:
    """A real array with one dimension per name in ``axes``, as a C-contiguous ``dtype`` array; finite unless
    ``all_finite`` is False."""
    a = np.asarray(a)
    dims(a, name, axes)
    numeric(a, name)
    a = np.ascontiguousarray(a, dtype=dtype)
    if all_finite:
        finite(a, name)
    return a


def square(a, name: str, what: str = "matrix") -> None:
    """``a`` is a square matrix (``what`` describes it in the message)."""
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square {what}, got shape {a.shape}")


def symmetric(S, name: str) -> np.ndarray:
    """A real symmetric matrix, finite off the diagonal (the diagonal is not checked for finiteness), as a
    C-contiguous float64 array."""
    S = np.asarray(S)
    square(S, name)
    numeric(S, name)
    S = np.ascontiguousarray(S, dtype=np.float64)
    finite(S[~np.eye(S.shape[0], dtype=bool)], name, " off the diagonal")
    if not np.array_equal(S, S.T):
        raise ValueError(f"{name} must be symmetric")
    return S


def float32_buffer(a, name: str, ndim: int, shape: tuple[int, ...] | None = None, writable: bool = False) -> None:
    """``a`` is already a C-contiguous float32 numpy array of ``ndim`` dimensions (and of ``shape``, if given), to
    be read or written in place, so nothing is cast."""
    ok = (
        isinstance(a, np.ndarray)
        and a.dtype == np.float32
        and a.ndim == ndim
        and a.flags.c_contiguous
        and (shape is None or a.shape == shape)
        and (a.flags.writeable or not writable)
    )
    if not ok:
        of_shape = "" if shape is None else f" of shape {shape}"
        raise ValueError(
            f"{name} must be a {'writable ' if writable else ''}C-contiguous float32 {ndim}-d numpy array{of_shape}"
        )
