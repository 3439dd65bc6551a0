"""Toy models of superposition and computation in superposition (torch; no streamlit)."""

from toys.config import TMSConfig
from toys.snapshot import Snapshot
from toys.train import TMSTrainer, Trainer, is_diverged, make_tms_trainer

from toys.absval import AbsConfig, AbsTrainer  # noqa: E402  (after toys.train, which it builds on)
from toys.cc import CCConfig, CCTrainer  # noqa: E402  (after toys.train, which it builds on)
from toys.uand import UANDConfig, UANDTrainer  # noqa: E402  (after toys.train, which it builds on)

TOYS = {"tms": (TMSConfig, make_tms_trainer), "abs": (AbsConfig, AbsTrainer), "cc": (CCConfig, CCTrainer),
        "uand": (UANDConfig, UANDTrainer)}

__all__ = ["TMSConfig", "TMSTrainer", "AbsConfig", "AbsTrainer", "CCConfig", "CCTrainer", "UANDConfig", "UANDTrainer",
           "Trainer", "make_tms_trainer", "Snapshot", "is_diverged", "TOYS"]
