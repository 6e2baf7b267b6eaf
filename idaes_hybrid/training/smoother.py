"""The scale of a learned output in the smoother's penalty.

The smoother (the auxiliary problem that initializes training) fits each learned term
as a free profile at every point, the flowsheet's equations as hard constraints, with a
smoothness penalty (:func:`~idaes_hybrid.training.flowsheet_problem.smoothness`)::

    min  data_fit + c_s * mean over series of (tf - t0) * mean_t((dz/dt)^2) / z_scale^2

:func:`output_scale` gives each output's ``z_scale``. The solution gives consistent
state trajectories, a profile of every learned term and the normalization statistics
of each network's inputs and outputs.
"""

from __future__ import annotations

from typing import Sequence


def output_scale(values: Sequence, z_scale: float | None = None) -> float:
    """Typical magnitude of a learned output (the ``values`` of one series): ``z_scale``
    when given, else the inverse of the IDAES scaling factor set on its first value, else
    its largest starting magnitude (the build function's ``initialize``), else 1."""
    from idaes.core.scaling.util import get_scaling_factor

    if z_scale is not None:
        return float(z_scale)
    factor = get_scaling_factor(values[0])
    if factor:
        return 1.0 / abs(float(factor))
    size = max((abs(float(v.value)) for v in values if v.value is not None), default=0.0)
    return size if size > 1e-12 else 1.0
