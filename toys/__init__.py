"""Toy models of superposition and computation in superposition (torch; no streamlit)."""

from toys.config import TMSConfig
from toys.snapshot import Snapshot
from toys.train import TMSTrainer, Trainer, is_diverged

TOYS = {"tms": (TMSConfig, TMSTrainer)}

__all__ = ["TMSConfig", "TMSTrainer", "Trainer", "Snapshot", "is_diverged", "TOYS"]
