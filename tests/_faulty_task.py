"""A task for the decomposition engine that kills its worker process once.

The first task that finds the flag file removes it and ends its process
abruptly (as an out-of-memory kill would), in the middle of a run. Workers
import this module by name (``tests/`` is on the path they inherit).
"""

import os

from idaes_hybrid.decomposition.engine import solve_inner


def crash_once(job):
    flag = os.environ.get("IDAES_HYBRID_TEST_CRASH_FLAG", "")
    if flag:
        try:
            os.remove(flag)  # atomic: exactly one task wins
        except FileNotFoundError:
            pass
        else:
            os._exit(1)
    return solve_inner(job)
