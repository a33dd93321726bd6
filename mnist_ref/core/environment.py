"""Capture of the environment a run or benchmark ran in; never raises."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

from mnist_ref.plumbing.checkout import CHECKOUT, portable, portable_path


def _safe(fn):
    """fn()'s value, or {'error': ...} naming what went wrong."""
    try:
        return fn()
    except Exception as exc:  # metadata must never break a run
        return {"error": portable(f"{type(exc).__name__}: {exc}")}


def _cpu() -> dict:
    import cpuinfo

    info = cpuinfo.get_cpu_info()
    return {
        "model": info.get("brand_raw") or platform.processor(),
        "arch": info.get("arch_string_raw") or platform.machine(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None


def _git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True, timeout=10, check=True)
    return out.stdout.strip()


def _git_info() -> dict:
    return {"commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain", "--untracked-files=no"))}


def _framework() -> dict:
    from mnist_ref.core import framework

    info = framework.versions()
    info["devices"] = list(framework.list_devices())
    info["gpus"] = framework.gpu_details()
    if info["gpus"]:
        info["nvidia_driver"] = _nvidia_driver()
    return info


def capture() -> dict:
    """Python, NumPy, Keras and backend versions, CPU, GPUs, OS and git commit; errors recorded, not raised."""
    import numpy

    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": numpy.__version__,
        "framework": _safe(_framework),
        "cpu": _safe(_cpu),
        "os": _safe(
            lambda: {"system": platform.system(), "release": platform.release(), "platform": platform.platform()}
        ),
        "git": _safe(_git_info),
        "executable": portable_path(sys.executable),
    }
