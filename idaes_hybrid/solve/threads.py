"""One thread per BLAS library in a process that mixes several of them.

A training process loads three OpenBLAS builds: numpy's, scipy's and the one MUMPS uses
inside Ipopt (cyipopt's wheel). Each starts its own pool of worker threads, one per core,
and a pool's workers keep spinning for a while after each call. On a machine with few
cores, numpy's linear algebra right after an Ipopt solve then competes with MUMPS's
spinning workers: measured on 2 cores, an ``eigvalsh`` of the 541 x 541 data Hessian of
the evidence took 2.8 s inside a training process against 0.03 s on its own, and the
evidence stage of a default training 24.9 s against 12.5 s with one thread per library
(the train solve itself 14.7 s against 13.3 s: MUMPS gains nothing from the threads on
these matrices).

OpenBLAS reads its thread count when the library is loaded, so
:func:`one_blas_thread_per_library` must run before numpy is imported; the command-line
tool calls it first thing. A user's own ``OPENBLAS_NUM_THREADS``, ``GOTO_NUM_THREADS`` or
``OMP_NUM_THREADS`` is left alone.
"""

from __future__ import annotations

import os
import sys

#: Environment variables OpenBLAS reads for its thread count, in its order of precedence.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def one_blas_thread_per_library() -> bool:
    """Ask every OpenBLAS loaded from now on for one thread, unless the user chose a count.

    Returns
    -------
    bool
        True if the setting was made; False if the user set a thread count or numpy (and
        its OpenBLAS) was already imported, so that the setting would come too late.
    """
    if any(v in os.environ for v in THREAD_VARIABLES) or "numpy" in sys.modules:
        return False
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    return True
