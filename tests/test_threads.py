"""One BLAS thread per library in the command-line process (``idaes_hybrid.solve.threads``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = ("import os, sys\n"
         "from idaes_hybrid.solve.threads import one_blas_thread_per_library\n"
         "made = one_blas_thread_per_library()\n"
         "import numpy\n"
         "print(made, os.environ.get('OPENBLAS_NUM_THREADS'))\n")


def _probe(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")}
    return subprocess.run([sys.executable, "-c", PROBE], env={**env, **env_extra}, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.mark.unit
def test_one_thread_is_asked_before_numpy_unless_the_user_chose():
    assert _probe({}) == "True 1"
    assert _probe({"OMP_NUM_THREADS": "2"}) == "False None"
    assert _probe({"OPENBLAS_NUM_THREADS": "4"}) == "False 4"


@pytest.mark.unit
def test_too_late_once_numpy_is_imported():
    out = subprocess.run([sys.executable, "-c", "import numpy\n" + PROBE], check=True,
                         capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}).stdout
    assert out.strip() == "False None"


@pytest.mark.unit
def test_numpys_openblas_runs_one_thread_under_the_setting():
    """The setting reaches the library: numpy's OpenBLAS reports one thread."""
    code = ("from idaes_hybrid.solve.threads import one_blas_thread_per_library\n"
            "one_blas_thread_per_library()\n"
            "import numpy, ctypes, glob, os\n"
            "lib = glob.glob(os.path.join(os.path.dirname(numpy.__file__), '..', 'numpy.libs', '*openblas*'))\n"
            "f = getattr(ctypes.CDLL(lib[0]), 'scipy_openblas_get_num_threads64_', None) if lib else None\n"
            "print(f() if f else 'unknown')\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                         text=True).stdout.strip()
    if out == "unknown":
        pytest.skip("numpy's OpenBLAS does not export its thread count here")
    assert out == "1"
