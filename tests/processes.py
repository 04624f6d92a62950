"""Running the project's own commands as separate processes, as a deployment does.

Starting a server and waiting for it is shared with the benchmarks (bench.common).
"""

import os
import subprocess
import sys

from bench.common import ROOT, free_port, start_process

__all__ = ["ROOT", "free_port", "run_python", "settings_env", "start_process"]


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


def settings_env(**overrides: str | None) -> dict:
    """This process's environment with these variables set (None: removed) and no .env file."""
    env = {k: v for k, v in os.environ.items() if k not in overrides}
    env.update({k: v for k, v in overrides.items() if v is not None})
    env["DJANGO_SETTINGS_MODULE"] = "vccregistry.settings"
    env["ENV_FILE"] = str(ROOT / "tests" / "no-such.env")
    return env
