"""Frozen, validated configs for every toy.

A config is a frozen dataclass. ``__post_init__`` rejects out-of-range values with a ``ValueError`` that names the
field, the value and what is allowed. ``to_dict``/``from_dict`` round-trip through a flat dict of plain values,
so a config can live in a URL, a JSON file or an ``.npz`` snapshot.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

MODEL_KINDS = ("linear", "relu_output", "relu_hidden")
ACTIVATIONS = ("relu", "gelu", "silu", "leaky_relu", "tanh")
VALUE_LAWS = ("uniform01", "one", "discrete123", "uniform_half_one")
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
    weight decay, seed, device, log_every)."""
    for name, (lo, hi, integer) in TRAINING_RANGES.items():
        if hasattr(cfg, name):
            check_range(name, getattr(cfg, name), lo, hi, integer=integer)
    for name, choices in TRAINING_CHOICES.items():
        if hasattr(cfg, name):
            check_choice(name, getattr(cfg, name), choices)


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
class TMSConfig(ConfigBase):
    """Anthropic's toy models of superposition, one independent model per instance.

    Feature probability sweeps geometrically from ``p_max`` (instance 0) to ``p_min`` (last instance); equal
    values give every instance the same probability. ``p_values`` ("0.75,0.35,0.15"), when set, lists one
    probability per instance instead. ``dropout`` zeroes hidden units at random during training (does it make
    the neuron basis privileged?). ``restarts`` > 1 trains that many seeds of every instance and keeps the one
    with the lowest loss (``toys.train.make_tms_trainer``). Importance of feature i is ``importance_decay ** i``.
    The first ``2*correlated_pairs`` features form pairs that share a presence mask; the next
    ``2*anticorrelated_pairs`` form pairs that are never present together. The last ``subset_size`` features
    (of the independent ones) take probability ``subset_probability`` in every instance instead.
    """

    name: ClassVar[str] = "tms"

    n_features: int = 5
    n_hidden: int = 2
    n_instances: int = 10
    p_max: float = 1.0
    p_min: float = 0.05
    p_values: str = ""
    importance_decay: float = 1.0
    model: str = "relu_output"
    activation: str = "relu"
    dropout: float = 0.0
    correlated_pairs: int = 0
    anticorrelated_pairs: int = 0
    value_law: str = "uniform01"
    subset_size: int = 0
    subset_probability: float = 0.5
    batch_size: int = 1024
    steps: int = 10_000
    lr: float = 1e-3
    schedule: str = "constant"
    optimizer: str = "adam"
    weight_decay: float = 0.0
    seed: int = 0
    restarts: int = 1
    device: str = "auto"
    log_every: int = 50

    def __post_init__(self) -> None:
        check_range("n_features", self.n_features, 1, 4096, integer=True)
        check_range("n_hidden", self.n_hidden, 1, 1024, integer=True)
        check_range("n_instances", self.n_instances, 1, 100_000, integer=True)
        check_interval(self, "p_min", "p_max", 1e-5, 1.0)
        if not isinstance(self.p_values, str):
            raise ValueError(f"p_values={self.p_values!r} must be text: comma-separated probabilities")
        if self.p_values:
            listed = parse_probabilities("p_values", self.p_values)
            if len(listed) != self.n_instances:
                raise ValueError(f"p_values lists {len(listed)} probabilities but n_instances={self.n_instances}: "
                                 "give one per instance")
        check_range("restarts", self.restarts, 1, 64, integer=True)
        if self.n_instances * self.restarts > 100_000:
            raise ValueError(f"n_instances={self.n_instances} × restarts={self.restarts} is out of range: "
                             "allowed at most 100000 models in all")
        check_range("importance_decay", self.importance_decay, 0.01, 10.0)
        if (self.n_features - 1) * math.log10(self.importance_decay) > 30:
            raise ValueError(
                f"importance_decay={self.importance_decay} with n_features={self.n_features} makes the last "
                f"feature's importance {self.importance_decay}**{self.n_features - 1} overflow float32: keep "
                f"(n_features - 1)·log10(importance_decay) ≤ 30"
            )
        check_choice("model", self.model, MODEL_KINDS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_range("dropout", self.dropout, 0.0, 0.9)
        check_range("correlated_pairs", self.correlated_pairs, 0, 2048, integer=True)
        check_range("anticorrelated_pairs", self.anticorrelated_pairs, 0, 2048, integer=True)
        paired = 2 * (self.correlated_pairs + self.anticorrelated_pairs)
        if paired > self.n_features:
            raise ValueError(
                f"correlated_pairs={self.correlated_pairs} and anticorrelated_pairs={self.anticorrelated_pairs} "
                f"need {paired} features, but n_features={self.n_features}"
            )
        largest_p = max(parse_probabilities("p_values", self.p_values)) if self.p_values else self.p_max
        if self.anticorrelated_pairs and largest_p > 0.5:
            raise ValueError(
                f"p_max={largest_p} is out of range for anticorrelated pairs: allowed [1e-05, 0.5] "
                "(a pair is present with probability 2p)"
            )
        check_choice("value_law", self.value_law, VALUE_LAWS)
        check_range("subset_size", self.subset_size, 0, self.n_features - paired, integer=True)
        check_range("subset_probability", self.subset_probability, 1e-5, 1.0)
        check_training(self)
        if self.optimizer == "adam" and self.weight_decay != 0.0:
            raise ValueError(f"weight_decay={self.weight_decay} needs optimizer='adamw' (Adam takes none)")

    @property
    def paired_features(self) -> int:
        return 2 * (self.correlated_pairs + self.anticorrelated_pairs)
