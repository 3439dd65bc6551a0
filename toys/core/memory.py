"""Will a training step fit in memory? Checked before a trainer allocates anything."""

from __future__ import annotations

import os

import torch

FLOAT_BYTES = 4
USABLE_FRACTION = 0.5


def tms_step_bytes(n_instances: int, batch_size: int, n_features: int, n_hidden: int) -> int:
    """Upper estimate of the activation memory of one TMS step: batch draw, mask, x, forward, backward."""
    return FLOAT_BYTES * n_instances * batch_size * (12 * n_features + 6 * n_hidden)


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                raw = f.read().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:
            return int(raw)
    return None


def available_bytes(device: torch.device) -> int:
    """Free memory on the device (GPU: free device memory; CPU: available RAM, capped by a cgroup limit)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    limit = _cgroup_limit()
    return min(avail, limit) if limit else avail


def check_fits(needed: int, device: torch.device, what: str) -> None:
    """Raise ValueError with sizes when ``needed`` bytes exceed the usable part of the device's free memory."""
    usable = int(available_bytes(device) * USABLE_FRACTION)
    if needed > usable:
        raise ValueError(
            f"{what} needs about {needed / 2**30:.1f} GiB per step, more than the {usable / 2**30:.1f} GiB this "
            f"{device.type.upper()} can spare: lower the batch size, the number of instances or of features"
        )
