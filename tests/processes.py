"""Running the project's own commands as separate processes, as a deployment does.

Starting a server and waiting for it is shared with the benchmarks (bench.common).
"""

import subprocess
import sys

from bench.common import ROOT, free_port, start_process

__all__ = ["ROOT", "free_port", "run_python", "start_process"]


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
