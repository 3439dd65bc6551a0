"""What a closed tab held is freed within a minute.

Streamlit keeps a disconnected session (for a reconnect) in a store whose entries expire after
``server.disconnectedSessionTTL`` seconds (30 here, in ``.streamlit/config.toml``) — but only when the store is
next touched, which happens when another session connects or leaves. With no further traffic a closed tab's
trainers stayed in memory indefinitely. ``start_reaper`` (called by app.py; once per server process) looks every
``REAP_S`` seconds: each expired session is shut down and its state (trainers, snapshots, analyses) dropped.

This reaches into Streamlit's session manager (``_session_mgr._session_storage._cache``, a TTLCache with
``expire()``), checked by ``tests/test_sessions.py`` for the pinned Streamlit; where that shape is missing the
reaper does nothing and says so once in the server log.

Freed is not returned: glibc keeps a process's freed heap for reuse, and a page's arrays are many blocks below its
mmap threshold, so the server's resident memory did not go down after a session was dropped (0-2 MB of ~100 MB).
After each round the reaper calls ``release_to_os`` (glibc's ``malloc_trim``), which hands the free pages back.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import logging
import threading
import time

from streamlit import runtime

REAP_S = 10.0
_LOG = logging.getLogger("superposition.sessions")
_started = threading.Event()
_lock = threading.Lock()


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def release_to_os() -> bool:
    """Hand the heap's free pages back to the operating system (glibc's ``malloc_trim(0)``); False where the C
    library has no such call (musl, macOS), which then keeps them for reuse."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))


def _expiring_store():
    """Streamlit's store of disconnected sessions and the lock its manager takes around it, if this version has
    the shape this module relies on; else (None, None)."""
    if not runtime.exists():
        return None, None
    manager = getattr(runtime.get_instance(), "_session_mgr", None)
    cache = getattr(getattr(manager, "_session_storage", None), "_cache", None)
    if not callable(getattr(cache, "expire", None)):
        return None, None
    return cache, getattr(manager, "_storage_lock", None) or contextlib.nullcontext()


def reap() -> int:
    """Shut down the disconnected sessions whose time for a reconnect has run out and drop their state; returns
    how many."""
    cache, lock = _expiring_store()
    if cache is None:
        return 0
    with lock:
        removed = cache.expire()
    for _, info in removed:
        session = info.session
        session.shutdown()
        session.session_state.clear()
        # what session_state.clear() leaves: widget callbacks and fragments close over the page's models (a
        # session kept by Streamlit's runtime loop would otherwise keep its last models alive)
        with contextlib.suppress(AttributeError):
            session.session_state._new_widget_state.widget_metadata.clear()
        with contextlib.suppress(AttributeError):
            session._fragment_storage.clear()
    if removed:
        _LOG.warning("freed %d closed session(s)", len(removed))
    return len(removed)


def sweep() -> int:
    """One round of the reaper: free the closed sessions, collect the process's cyclic garbage, and hand the free
    heap back to the system. Returns how many sessions were freed.

    The collection is the server's: ``.streamlit/config.toml`` turns off Streamlit's own full collection after
    every script run (``runner.postScriptGC``), which under 16 visitors held the GIL 56-64% of the time (0.3 s per
    collection of a process holding torch, pandas and altair, once per visitor per tick); one every ``REAP_S``
    seconds for the whole process bounds how long garbage lives at a fraction of that cost."""
    freed = reap()
    gc.collect()
    release_to_os()
    return freed


def _loop() -> None:
    if _expiring_store()[0] is None:
        _LOG.warning("this Streamlit has no expiring session store: closed sessions are freed by Streamlit alone")
    while True:
        time.sleep(REAP_S)
        try:
            sweep()
        except Exception:  # noqa: BLE001  one bad session must not end the reaper
            _LOG.exception("reaping closed sessions failed")


def start_reaper() -> None:
    """Start the reaper thread (once per process; later calls return at once)."""
    with _lock:
        if _started.is_set():
            return
        _started.set()
    threading.Thread(target=_loop, name="session-reaper", daemon=True).start()
