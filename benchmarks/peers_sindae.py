"""Peer baseline: SiNDAE (the paper's companion code) on the bioreactor case.

Creates ``benchmarks/.venv-sindae`` (gitignored) with ``python3 -m venv`` and
``pip install sindae==1.0.2`` when it is missing, then runs
``benchmarks/_sindae_driver.py`` in it (SiNDAE's public API: smoother ->
pretrain -> simultaneous NLP solved by POUNCE, with our network and
discretization, then a scipy ``solve_ivp`` prediction of the validation batch)
and prints the driver's JSON, plus the setup and peak memory of the run.
An install or run failure is reported as ``{"error": ...}`` with the exact message.

``python -m benchmarks.peers_sindae [--json out.json] [--data DIR] [--hessian limited-memory]
[--case tank_manifold --max-cpu-time S]`` (the tank-manifold driver is
``benchmarks/_sindae_tank_driver.py``; ``--data`` gives the bioreactor driver another
data folder, e.g. a data set of ``benchmarks/noise_data.py``, ragged times and missing cells allowed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
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
#: Case -> (driver, data folder): the bioreactor, and the tank manifold (SiNDAE's FourTankProblem).
CASES = {"bioreactor": (DRIVER, DATA),
         "tank_manifold": (HERE / "_sindae_tank_driver.py", HERE.parent / "flowsheets" / "tank_manifold" / "data")}
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


def run(timeout: float = 3600.0, reg: float = 1e-2, case: str = "bioreactor", hessian: str = "exact",
        max_cpu_time: float | None = None, data: Path | None = None) -> dict:
    """Run SiNDAE's driver of ``case`` in its venv (created if needed); its JSON result.

    Parameters
    ----------
    timeout : float, optional
        Seconds before the driver (and the POUNCE process it started) is killed.
    reg : float, optional
        L2 weight of the simultaneous NLP (``SimultaneousConfig.reg_coef``).
    case : str, optional
        A key of :data:`CASES`.
    hessian : str, optional
        ``"exact"`` or ``"limited-memory"``: Hessian of the simultaneous solve.
    max_cpu_time : float, optional
        POUNCE ``max_cpu_time`` (tank manifold only).
    data : pathlib.Path, optional
        Data folder (default: the case's own); for the bioreactor, any folder with
        ``b1``, ``b2``, ``b3`` and ``val`` CSVs of the public case's batches, with
        ragged sample times and empty (missing) cells allowed.

    Returns
    -------
    dict
        The driver's JSON plus ``setup``, ``process_wall_time_s`` and ``peak_rss_mb``,
        or ``{"error": ...}`` with the exact message (install failure, timeout, no result).
    """
    driver, default_data = CASES[case]
    args = [str(data or default_data), str(reg), hessian]
    if case != "bioreactor" and max_cpu_time:
        args.append(str(max_cpu_time))
    setup = ensure_venv()
    if "error" in setup:
        return setup
    env = dict(os.environ, PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")  # POUNCE's executable
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    tick = time.perf_counter()
    # own session: a timeout ends the driver *and* the POUNCE process it started
    proc = subprocess.Popen([str(PY), str(driver), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"SiNDAE driver timed out after {timeout:.0f} s", "setup": setup}
    r = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
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
    p.add_argument("--case", choices=sorted(CASES), default="bioreactor")
    p.add_argument("--hessian", choices=("exact", "limited-memory"), default="exact",
                   help="Hessian of the simultaneous solve")
    p.add_argument("--data", type=Path, help="data folder (default: the case's own)")
    p.add_argument("--max-cpu-time", type=float, help="POUNCE max_cpu_time of the solves (tank manifold only)")
    a = p.parse_args(argv)
    out = run(timeout=a.timeout, case=a.case, hessian=a.hessian, max_cpu_time=a.max_cpu_time,
              data=a.data)
    text = json.dumps(out, indent=1, default=str)
    if a.json:
        a.json.write_text(text)
    print(text)
    return 1 if "error" in out else 0


if __name__ == "__main__":
    sys.exit(main())
