"""Which torch device to train on, and how to name it for people."""

from __future__ import annotations

import os

import torch


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but no CUDA GPU is available here: use 'auto' or 'cpu'")
    return torch.device(name)


def device_label(device: torch.device | str | None = None) -> str:
    """'NVIDIA H100 80GB HBM3 (cuda)' or 'CPU (2 cores)'."""
    device = resolve_device("auto") if device is None else torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (cuda)"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU ({cores} cores)"
