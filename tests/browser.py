"""Start the app with `streamlit run` on a free localhost port and drive Debian's Chromium with Playwright."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(
    timeout: float = 90.0, env: dict[str, str] | None = None, log_path: Path | None = None, script: Path | None = None
):
    """Yield the base URL of a freshly started app (its environment updated by ``env``; its output written to
    ``log_path`` if given; ``script`` another app than this one, run from its folder); stop it afterwards."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SUPERPOSITION_")}  # the deployed defaults
    env = {**inherited, "PYTHONUNBUFFERED": "1", "SUPERPOSITION_WARMUP": "1", **(env or {})}  # as deployed; env wins
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(script or "app.py"),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=script.parent if script else ROOT,
        env=env,
        stdout=subprocess.PIPE if log_path is None else open(log_path, "w"),  # noqa: SIM115  closed with the process
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                output = proc.stdout.read() if log_path is None else Path(log_path).read_text()
                raise RuntimeError(f"streamlit exited early:\n{output}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise TimeoutError("streamlit did not answer its health check")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def browser_pages(n: int = 1, width: int = 1400, height: int = 1000):
    """Yield n pages, each in its own browser context (so each is its own Streamlit session)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield [browser.new_context(viewport={"width": width, "height": height}).new_page() for _ in range(n)]
        finally:
            browser.close()


@contextlib.contextmanager
def browser_page(width: int = 1400, height: int = 1000):
    with browser_pages(1, width, height) as pages:
        yield pages[0]


def processes(*words: bytes) -> list[tuple[int, list[bytes]]]:
    """(pid, command line) of every process whose command line holds each of ``words``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(w in args for w in words):
            found.append((int(proc.name), args))
    return found


def server_pid(url: str) -> int:
    """The pid of the ``streamlit run`` serving ``url`` (found by the port on its command line)."""
    port = str(urlparse(url).port).encode()
    for pid, args in processes(b"streamlit", b"--server.port"):
        if args[args.index(b"--server.port") + 1] == port:
            return pid
    raise LookupError(f"no streamlit process serves {url}")


def proc_status(pid: int) -> dict[str, str]:
    """``/proc/<pid>/status`` as a dict ({} once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}


def rss_mb(pid: int, field: str = "VmRSS") -> float | None:
    """A memory field of ``/proc/<pid>/status`` (VmRSS: resident now, VmHWM: its peak) in MB (10⁶ bytes)."""
    value = proc_status(pid).get(field)
    return round(int(value.split()[0]) * 1024 / 1e6, 1) if value else None


def alive(pid: int) -> bool:
    return proc_status(pid).get("State", "Z").split()[0] not in ("Z", "X")


def wait_idle(page, timeout_ms: int = 120_000) -> None:
    """Wait until the app has finished its run (no 'Running...' status widget)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    # the first run of the page's script has at least begun (right after goto the app may not have started it yet)
    page.wait_for_selector("[data-testid='stApp']:not([data-test-script-state='initial'])", timeout=timeout_ms)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)


def exceptions_on(page) -> list[str]:
    return [e.inner_text() for e in page.query_selector_all("[data-testid='stException']")]
