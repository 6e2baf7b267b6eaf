"""The saponification experiments: input steps, horizons, sampling and noise."""

from __future__ import annotations

HORIZON = 120.0  # s
NOISE_SD = {"NaOH": 0.01, "T": 0.05}  # mol/m^3, K

#: name -> (role, inputs as [[time, value], ...] steps)
EXPERIMENTS = {
    "b1": ("train", {"F": [[0, 1.0e-3], [40, 0.7e-3], [80, 1.2e-3]], "Tf": [[0, 300.0]],
                     "Q": [[0, 0.0], [20, 2.0e4], [60, 3.5e4], [100, 1.0e4]]}),
    "b2": ("train", {"F": [[0, 0.8e-3]], "Tf": [[0, 305.0], [50, 299.0]],
                     "Q": [[0, 1.0e4], [30, 0.0], [70, 2.5e4]]}),
    "b3": ("train", {"F": [[0, 1.3e-3], [60, 0.9e-3]], "Tf": [[0, 310.0], [40, 302.0]],
                     "Q": [[0, 3.0e4], [90, 0.0]]}),
    "val": ("validation", {"F": [[0, 0.9e-3], [50, 1.1e-3]], "Tf": [[0, 303.0]],
                           "Q": [[0, 1.5e4], [60, 3.0e4]]}),
}
