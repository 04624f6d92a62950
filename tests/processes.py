"""Running the project's own commands as separate processes, as a deployment does."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_python(args: list[str], env: dict, *, check: bool = False) -> subprocess.CompletedProcess:
    """Run `python ARGS` in the project and capture its output (2 minutes at most)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def start_python(args: list[str], *, env: dict, ready_url: str, stdout=None) -> subprocess.Popen:
    """Start `python ARGS` in the project; return once ready_url answers (60 s at most)."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=stdout or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if stdout else subprocess.DEVNULL,
    )
    ready_by = time.monotonic() + 60  # a busy CI machine boots slowly
    while time.monotonic() < ready_by and process.poll() is None:
        try:
            requests.get(ready_url, timeout=5)
            return process
        except requests.RequestException:
            time.sleep(0.2)
    process.terminate()
    process.wait(timeout=20)
    raise RuntimeError(f"{ready_url} did not come up within 60 s")
