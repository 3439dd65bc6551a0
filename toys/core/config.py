"""What every toy's config shares: range checks, the flat-dict round trip and the training fields.

A config is a frozen dataclass. ``__post_init__`` rejects out-of-range values with a ``ValueError`` that names the
field, the value and what is allowed. ``to_dict``/``from_dict`` round-trip through a flat dict of plain values,
so a config can live in a URL, a JSON file or an ``.npz`` snapshot.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

ACTIVATIONS = ("relu", "gelu", "silu", "leaky_relu", "tanh")
SCHEDULES = ("constant", "linear", "cosine")
OPTIMIZERS = ("adam", "adamw")
DEVICES = ("auto", "cpu", "cuda")


def check_range(name: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> None:
    """Raise ValueError unless lo <= value <= hi (and an int when ``integer``)."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}={value!r} must be {kind} in [{lo}, {hi}]")
    if integer and not float(value).is_integer():
        raise ValueError(f"{name}={value!r} must be {kind} in [{lo}, {hi}]")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{name}={value!r} is out of range: allowed [{lo}, {hi}]")


def check_interval(cfg: Any, low: str, high: str, lo: float, hi: float, *, integer: bool = False) -> None:
    """check_range on the fields ``low`` and ``high`` of ``cfg``, then that the interval is not reversed."""
    a, b = getattr(cfg, low), getattr(cfg, high)
    check_range(low, a, lo, hi, integer=integer)
    check_range(high, b, lo, hi, integer=integer)
    if a > b:
        raise ValueError(f"{low}={a} must not exceed {high}={b}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not allowed: choose one of {', '.join(choices)}")


def parse_probabilities(name: str, text: str) -> list[float]:
    """'0.75, 0.35,0.1' -> [0.75, 0.35, 0.1]; ValueError naming the field unless every entry is in [1e-5, 1]."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"{name}={text!r} must be comma-separated numbers in [1e-05, 1.0]") from None
    for v in values:
        if not (math.isfinite(v) and 1e-5 <= v <= 1.0):
            raise ValueError(f"{name}={text!r} holds {v}, out of range: allowed [1e-05, 1.0]")
    return values


TRAINING_RANGES = {  # field -> (lo, hi, integer): the training fields every toy config shares
    "batch_size": (1, 65_536, True),
    "steps": (1, 10_000_000, True),
    "lr": (1e-6, 1.0, False),
    "weight_decay": (0.0, 10.0, False),
    "seed": (0, 2**31 - 1, True),
    "log_every": (1, 100_000, True),
}
TRAINING_CHOICES = {"schedule": SCHEDULES, "optimizer": OPTIMIZERS, "device": DEVICES}


def check_training(cfg: Any) -> None:
    """Validate whichever of the shared training fields ``cfg`` has (batch, steps, lr, schedule, optimizer,
    weight decay, seed, device, log_every), and that weight decay comes with AdamW."""
    for name, (lo, hi, integer) in TRAINING_RANGES.items():
        if hasattr(cfg, name):
            check_range(name, getattr(cfg, name), lo, hi, integer=integer)
    for name, choices in TRAINING_CHOICES.items():
        if hasattr(cfg, name):
            check_choice(name, getattr(cfg, name), choices)
    if getattr(cfg, "optimizer", "adamw") == "adam" and getattr(cfg, "weight_decay", 0.0) != 0.0:
        raise ValueError(f"weight_decay={cfg.weight_decay} needs optimizer='adamw' (Adam takes none)")


class ConfigBase:
    """Flat-dict round trip shared by all configs."""

    name: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """Build a config from a flat dict; strings (from URLs, CLIs) are coerced to the field's type."""
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ValueError(f"unknown config field(s) {', '.join(unknown)} for {cls.__name__}")
        kwargs = {}
        for key, value in d.items():
            kwargs[key] = _coerce(key, value, fields[key].type)
        return cls(**kwargs)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _coerce(name: str, value: Any, typ: Any) -> Any:
    typ = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    try:
        if typ == "int":
            if isinstance(value, str):
                value = float(value)
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return value
        if typ == "float":
            return float(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else value
        if typ == "bool":
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes"):
                    return True
                if value.lower() in ("0", "false", "no"):
                    return False
                raise ValueError
            return value
    except ValueError:
        raise ValueError(f"{name}={value!r} cannot be read as {typ}") from None
    return value


@dataclass(frozen=True)
class TrainingConfig(ConfigBase):
    """The training fields every toy shares. A toy's config subclasses it, re-declares a field only to change its
    default, and calls ``super().__post_init__()`` after its own checks."""

    steps: int = 10_000
    lr: float = 1e-3
    schedule: str = "constant"
    optimizer: str = "adam"
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    log_every: int = 50

    def __post_init__(self) -> None:
        check_training(self)
