"""What a result was measured on: the machine, the package versions, the commit."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from pathlib import Path

from .processes import ROOT

# The packages whose versions move the service's numbers.
SERVICE_PACKAGES = ("numpy", "librosa", "numba", "gunicorn", "flask", "ai-edge-litert", "matplotlib")


def machine() -> dict[str, str]:
    """``nproc`` (the CPUs this process may use), logical CPUs, physical cores (distinct physical id + core id
    in /proc/cpuinfo), the CPU model, RAM and the kernel."""
    physical, model, block = set(), "?", {}
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines + [""]:
        if not line.strip():
            if "core id" in block:
                physical.add((block.get("physical id"), block["core id"]))
            block = {}
            continue
        key, _, value = line.partition(":")
        block[key.strip()] = value.strip()
        if key.strip() == "model name":
            model = value.strip()
    ram = "?"
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        pass
    return {"nproc": str(len(os.sched_getaffinity(0))), "logical": str(os.cpu_count()),
            "physical": str(len(physical)) if physical else "?", "cpu": model, "ram": ram,
            "os": f"{platform.system()} {platform.release()}"}


def machine_text(facts: dict[str, str] | None = None) -> str:
    facts = facts or machine()
    return (f"{facts['physical']} physical cores, {facts['logical']} logical CPUs, `nproc` {facts['nproc']} "
            f"({facts['cpu']}), {facts['ram']} RAM, {facts['os']}")


def versions(packages: tuple[str, ...] = SERVICE_PACKAGES, ffmpeg: bool = True) -> dict[str, str]:
    """Python's and each package's version; with ``ffmpeg``, the ffmpeg the service decodes with (and the one
    that made the bench's audio, when that is another)."""
    found = {"python": platform.python_version()}
    for package in packages:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    if ffmpeg:
        system = shutil.which("ffmpeg") or "ffmpeg"
        try:  # the binary the service decodes with (audio.ffmpeg_binary), which may not be the system's
            from genrelens.analysis.audio import ffmpeg_binary

            service = ffmpeg_binary()
        except Exception:  # noqa: BLE001 -- a report detail, never a reason to fail
            service = system
        found["ffmpeg (service)"] = f"{_ffmpeg_version(service)} ({Path(service).name})"
        if Path(service).resolve() != Path(system).resolve():
            found["ffmpeg (makes the test audio)"] = _ffmpeg_version(system)
    return found


def _ffmpeg_version(binary: str) -> str:
    try:
        first = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=10,
                               check=False).stdout.splitlines()[0]
        return first.replace("ffmpeg version ", "").split(" Copyright")[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def git_state() -> str:
    """The short commit, and whether tracked files differ from it."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        return f"{head}{' + uncommitted changes' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return "?"
