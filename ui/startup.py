"""The library, loaded once per server process on a thread of its own, so that no visitor's page is held by it.

Importing torch, ``torch._dynamo`` and altair takes 5 s in a plain Python process on a 2-core machine and 6-8 s in
a fresh server beside the browser. Imported inside a script run, that run could not be interrupted meanwhile: a
click on another page, or a second visitor's page, waited for the whole import. Here one thread imports and every
run that needs the library waits for it in short ticks, giving way to the visitor at each: a rerun or a stop asked
for meanwhile interrupts the run at once, through the check Streamlit runs at every message a script sends
(``yield_to_visitor``, or the note's redraw once a second). The import goes on, and the next run waits for the rest
of it.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Sequence

from streamlit.runtime.scriptrunner import get_script_run_ctx

# What every page needs, in this order: the package ``toys`` first, before any page's submodule import (pages run on
# concurrent threads, and a submodule import racing ``toys/__init__`` deadlocked); ``torch._dynamo``, which
# torch.optim imports on an optimizer's first use (1.5 s, else paid between a page's heading and its Play button);
# ``charts.common`` (altair, pandas).
LIBRARY = ("toys", "torch._dynamo", "charts.common")
TICK_S = 0.25  # how often a waiting run gives way: the longest a click waits for it


class Loader:
    """Imports ``modules`` once, on a daemon thread, the first time anyone asks; ``wait`` holds a run until done."""

    def __init__(self, modules: Sequence[str] = LIBRARY) -> None:
        self.modules = tuple(modules)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._error: BaseException | None = None

    def _load(self) -> None:
        try:
            for name in self.modules:
                importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001  any import error: every waiting run raises it in its page
            self._error = exc
        finally:
            self._done.set()

    def start(self) -> None:
        """Start the import if nobody has; returns at once."""
        with self._lock:
            if self._thread is None:
                self._started = time.monotonic()
                self._thread = threading.Thread(target=self._load, name="library-import", daemon=True)
                self._thread.start()

    @property
    def loaded(self) -> bool:
        return self._done.is_set() and self._error is None

    def elapsed_s(self) -> float:
        """Seconds since the import started (0 before)."""
        return time.monotonic() - self._started if self._started else 0.0

    def wait(self, tick: Callable[[float], None], tick_s: float = TICK_S) -> None:
        """Start the import if needed and return once it is done, calling ``tick(seconds since the import
        started)`` first and then every ``tick_s`` meanwhile; an exception from ``tick`` (Streamlit's rerun or stop)
        ends the wait at once and leaves the import running. Raises the import's own error, if it failed."""
        self.start()
        if not self._done.is_set():
            tick(self.elapsed_s())
            while not self._done.wait(tick_s):
                tick(self.elapsed_s())
        if self._error is not None:
            raise self._error


def yield_to_visitor() -> bool:
    """Let Streamlit act now on a rerun or stop the visitor asked for (it raises its exception here) without sending
    the browser anything, through the script context's ``yield_check``, the hook Streamlit itself calls at each
    message a script sends. False outside a script run or where Streamlit has no such hook: then send something."""
    check = getattr(get_script_run_ctx(suppress_warning=True), "yield_check", None)
    if check is None:
        return False
    check()
    return True


library = Loader()
