"""requirements.txt as Streamlit Community Cloud installs it: no CUDA, and no package built from source.

Cloud installs ``requirements.txt`` on Linux x86_64 with none of this machine's pip setup (its local wheel folder,
its local indexes, its constraints). Each test resolves the file the same way: pip's ``install --dry-run --report``
with ``--isolated`` (no environment variables, no user config) and ``PIP_CONFIG_FILE=/dev/null`` (no global or
site config either: ``--isolated`` alone still reads those), against PyPI, and reads the report's ``install``
list. Marked ``slow``: it needs the network.

- the deployed file resolves to torch's ``+cpu`` build and nothing of NVIDIA's (``nvidia-*``, ``cuda-*``,
  ``triton``);
- a negative control, the old arrangement (plain ``torch==2.13.0``, no find-links line), does resolve to PyPI's
  CUDA build with its NVIDIA packages, so the check above can fail;
- every package, transitive ones included, has a wheel for CPython 3.11 (the version the README tells deployers
  to pick) on manylinux x86_64, so Cloud builds nothing from source.

Stand-in for PyTorch's wheel page: where ``download.pytorch.org`` does not resolve (this project's development and
CI machines), the tests rewrite the ``--find-links`` URL in a temporary copy of requirements.txt to a temporary
folder holding only links to the local copies of the pinned ``+cpu`` wheel (from the folders in ``PIP_FIND_LINKS``,
``/opt/wheels`` here; the same file PyTorch serves). Where the host resolves, the real URL is used.

The resolving pip is a pinned one (``PIP``, fetched from PyPI once per session and run from its wheel) with
``--use-feature=fast-deps``: pip before 25.3 downloads every wheel in full even in a dry run (the negative
control alone is 2.75 GB: 46 s here), and this machine's PyPI mirror does not advertise PEP 658 metadata, so pip
reads each wheel's metadata through HTTP range requests instead (a few MB in all). pip evaluates the file's
environment markers for the machine it runs on, so the tests run on Linux x86_64 only. They skip, rather than
fail, only where PyPI cannot be reached.
"""

import json
import os
import platform
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
PIP = "26.3"
PYTORCH_HOST = "download.pytorch.org"
CLOUD_PYTHON = "3.11"  # README: Deploy to Streamlit Community Cloud, Advanced settings
# manylinux tags a CPython on a glibc >= 2.28 Linux accepts (torch 2.13's own wheels need 2.28); pip does not
# expand manylinux_2_28 to the older tags by itself.
CLOUD_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=10).close()
    except OSError:
        return False
    return True


def _pip_env() -> dict:
    return {**os.environ, "PIP_CONFIG_FILE": os.devnull}


@pytest.fixture(scope="module")
def pip(tmp_path_factory) -> list[str]:
    """The command that runs the pinned pip, from its wheel."""
    if not (sys.platform.startswith("linux") and platform.machine() == "x86_64"):
        pytest.skip("Cloud is Linux x86_64, and pip evaluates the requirements' markers for the machine it runs on")
    if not _pypi_reachable():
        pytest.skip("PyPI (pypi.org:443) cannot be reached")
    folder = tmp_path_factory.mktemp("pip")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--isolated", "--disable-pip-version-check", "--quiet"]
        + ["--no-deps", "--only-binary=:all:", "--dest", str(folder), f"pip=={PIP}"],
        env=_pip_env(),
        check=True,
        timeout=300,
    )
    (wheel,) = folder.glob(f"pip-{PIP}-*.whl")
    return [sys.executable, str(wheel / "pip")]


def _torch_cpu_pin(text: str) -> str:
    (version,) = re.findall(r"^torch==(\S+\+cpu)\s*;", text, flags=re.MULTILINE)
    return version


def _deployable_copy(text: str, folder: Path) -> str:
    """requirements.txt's text, with PyTorch's page replaced by a folder of local wheels where the host does not
    resolve (see the module docstring)."""
    (url,) = re.findall(r"^--find-links\s+(\S+)$", text, flags=re.MULTILINE)
    assert PYTORCH_HOST in url, url
    if _resolves(PYTORCH_HOST):
        return text
    version = _torch_cpu_pin(text)
    wheels = {
        p.name: p
        for d in os.environ.get("PIP_FIND_LINKS", "/opt/wheels").split() + ["/opt/wheels"]
        for p in Path(d).glob(f"torch-{version}-*.whl")
    }
    if not wheels:
        pytest.skip(f"{PYTORCH_HOST} does not resolve and no local copy of torch {version}'s wheels stands in")
    stand_in = folder / "pytorch-cpu"
    stand_in.mkdir()
    for name, path in wheels.items():
        (stand_in / name).symlink_to(path)
    return text.replace(url, str(stand_in))


def _resolve(pip: list[str], text: str, folder: Path, *options: str) -> dict[str, str]:
    """{package: version} that pip would install from a requirements file with this text, on a machine with
    nothing installed and no pip configuration."""
    requirements, report = folder / "requirements.txt", folder / "report.json"
    requirements.write_text(text)
    command = pip + ["install", "--dry-run", "--ignore-installed", "--quiet", "--isolated"]
    command += ["--disable-pip-version-check", "--use-feature=fast-deps", "--index-url", "https://pypi.org/simple"]
    command += ["--report", str(report), "-r", str(requirements), *options]
    run = subprocess.run(command, check=False, env=_pip_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"{' '.join(command)}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return {
        re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }


def _cuda(install: dict[str, str]) -> list[str]:
    """What in a resolved install would bring CUDA to Cloud: NVIDIA's packages, triton, a torch that is not
    the +cpu build."""
    found = [f"{n}=={v}" for n, v in install.items() if n.startswith(("nvidia-", "cuda-")) or n == "triton"]
    if not install.get("torch", "").endswith("+cpu"):
        found.append(f"torch=={install.get('torch')} (not +cpu)")
    return found


def test_cloud_installs_cpu_torch_and_nothing_of_cuda(pip, tmp_path):
    install = _resolve(pip, _deployable_copy(REQUIREMENTS.read_text(), tmp_path), tmp_path)
    assert install["torch"] == _torch_cpu_pin(REQUIREMENTS.read_text())
    assert _cuda(install) == []
    assert {"numpy", "numba", "streamlit", "scipy", "safetensors"} <= install.keys()


def test_negative_control_old_plain_torch_pin_brings_cuda(pip, tmp_path):
    """The check above can fail: requirements.txt as it was (torch==2.13.0 with no find-links line) resolves to
    PyPI's Linux wheel, the CUDA build with NVIDIA's packages and triton."""
    text = REQUIREMENTS.read_text()
    base = _torch_cpu_pin(text).split("+")[0]
    lines = [line for line in text.splitlines() if not line.startswith(("--find-links", "torch=="))]
    install = _resolve(pip, "\n".join(lines + [f"torch=={base}"]) + "\n", tmp_path)
    assert install["torch"] == base
    found = _cuda(install)
    assert any(f.startswith("nvidia-") for f in found) and any(f.startswith("triton==") for f in found), found


def test_every_package_has_a_wheel_for_the_cloud_python(pip, tmp_path):
    """Every package, dependencies included, comes as a wheel for CPython 3.11 on manylinux x86_64: nothing is
    built from source on Cloud (pip fails with "No matching distribution" naming the package otherwise)."""
    platforms = [option for tag in CLOUD_PLATFORMS for option in ("--platform", tag)]
    install = _resolve(
        pip,
        _deployable_copy(REQUIREMENTS.read_text(), tmp_path),
        tmp_path,
        "--only-binary=:all:",
        "--python-version",
        CLOUD_PYTHON,
        "--implementation",
        "cp",
        *platforms,
    )
    assert _cuda(install) == []
