"""Toy models of superposition and computation in superposition (torch; no streamlit)."""

from toys.config import TMSConfig
from toys.snapshot import Snapshot
from toys.train import TMSTrainer, Trainer, is_diverged

from toys.absval import AbsConfig, AbsTrainer  # noqa: E402  (after toys.train, which it builds on)

TOYS = {"tms": (TMSConfig, TMSTrainer), "abs": (AbsConfig, AbsTrainer)}

__all__ = ["TMSConfig", "TMSTrainer", "AbsConfig", "AbsTrainer", "Trainer", "Snapshot", "is_diverged", "TOYS"]
