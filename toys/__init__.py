"""Toy models of superposition and computation in superposition (torch; no streamlit)."""

from toys.config import TMSConfig
from toys.snapshot import Snapshot
from toys.train import TMSTrainer, Trainer, is_diverged, make_tms_trainer

from toys.absval import AbsConfig, AbsTrainer  # noqa: E402  (after toys.train, which it builds on)

TOYS = {"tms": (TMSConfig, make_tms_trainer), "abs": (AbsConfig, AbsTrainer)}

__all__ = ["TMSConfig", "TMSTrainer", "AbsConfig", "AbsTrainer", "Trainer", "make_tms_trainer", "Snapshot", "is_diverged", "TOYS"]
