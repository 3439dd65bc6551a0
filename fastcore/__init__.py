"""numba kernels: numpy in, numpy out (never torch, never streamlit).

Importing this package chooses a writable cache directory for ``cache=True`` kernels (``NUMBA_CACHE_DIR`` if set,
else ``.numba_cache`` beside the package, else a temp dir) and a thread-safe threading layer: Streamlit serves
every visitor on its own thread, and numba's default workqueue layer aborts the process on concurrent
``parallel=True`` calls. It also bounds how long OpenMP threads spin while
they wait (``GOMP_SPINCOUNT=20000`` unless ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is set; see ``toys``): with
libgomp's default spinning, other OpenMP work on a 2-core machine made the parallel TMS step 8-45× slower.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write_probe"
        probe.write_text("")
        probe.unlink()
        return True
    except OSError:
        return False


def _choose_cache_dir() -> str:
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    local = Path(__file__).resolve().parent.parent / ".numba_cache"
    return str(local if _writable(local) else Path(tempfile.gettempdir()) / "superposition_numba_cache")


os.environ["NUMBA_CACHE_DIR"] = _choose_cache_dir()
os.environ.setdefault("NUMBA_THREADING_LAYER", "threadsafe")
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "20000")

if "numba" in sys.modules:  # imported before this package: it has read its environment already
    import numba

    numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
    numba.config.THREADING_LAYER = os.environ["NUMBA_THREADING_LAYER"]
# Otherwise numba is imported by the kernel modules, when first needed, and reads the environment above then: the
# package itself stays cheap to import (app.py starts the background compilation through it before its first
# paint; numba's import is a quarter of a second on a small machine).


def set_threads(n: int) -> None:
    """Threads for the parallel kernels called from the calling thread from now on (numba's setting is per thread),
    at most NUMBA_NUM_THREADS."""
    import numba

    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
