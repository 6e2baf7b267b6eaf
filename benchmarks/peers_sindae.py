"""Peer baseline: SiNDAE (the paper's companion code) on the bioreactor case.

Creates ``benchmarks/.venv-sindae`` (gitignored) with ``python3 -m venv`` and
``pip install sindae==1.0.2`` when it is missing, then runs
``benchmarks/_sindae_driver.py`` in it (SiNDAE's public API: smoother ->
pretrain -> simultaneous NLP solved by POUNCE, with our network and
discretization, then a scipy ``solve_ivp`` prediction of the validation batch)
and prints the driver's JSON, plus the setup and peak memory of the run.
An install or run failure is reported as ``{"error": ...}`` with the exact message.

``python -m benchmarks.peers_sindae [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-sindae"
PY = VENV / "bin" / "python"
DRIVER = HERE / "_sindae_driver.py"
DATA = HERE.parent / "flowsheets" / "bioreactor" / "data"
VERSION = "1.0.2"


def ensure_venv() -> dict:
    """Create the SiNDAE venv if needed; return what was done (or the error)."""
    tick = time.perf_counter()
    ok = PY.exists() and subprocess.run([str(PY), "-c", "import sindae"], capture_output=True).returncode == 0
    if ok:
        return {"venv": str(VENV), "created": False, "setup_s": time.perf_counter() - tick}
    for cmd in (["python3", "-m", "venv", str(VENV)],
                [str(PY), "-m", "pip", "install", "--quiet", f"sindae=={VERSION}"]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            return {"error": f"{' '.join(cmd)} failed ({r.returncode}): {(r.stderr or r.stdout)[-2000:]}"}
    return {"venv": str(VENV), "created": True, "setup_s": time.perf_counter() - tick}


def run(timeout: float = 3600.0, reg: float = 1e-2) -> dict:
    setup = ensure_venv()
    if "error" in setup:
        return setup
    env = dict(os.environ, PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")  # POUNCE's executable
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    tick = time.perf_counter()
    try:
        r = subprocess.run([str(PY), str(DRIVER), str(DATA), str(reg)], capture_output=True, text=True,
                           env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"SiNDAE driver timed out after {timeout:.0f} s", "setup": setup}
    wall = time.perf_counter() - tick
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"error": f"SiNDAE driver exited {r.returncode} without a result: {r.stderr[-3000:]}",
                "setup": setup}
    out = json.loads(lines[-1])
    out["setup"] = setup
    out["process_wall_time_s"] = wall
    out["peak_rss_mb"] = peak / 1024 if peak > before else None
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.peers_sindae", description=__doc__.split("\n")[0])
    p.add_argument("--json", type=Path)
    p.add_argument("--timeout", type=float, default=3600.0)
    a = p.parse_args(argv)
    out = run(timeout=a.timeout)
    text = json.dumps(out, indent=1, default=str)
    if a.json:
        a.json.write_text(text)
    print(text)
    return 1 if "error" in out else 0


if __name__ == "__main__":
    sys.exit(main())
