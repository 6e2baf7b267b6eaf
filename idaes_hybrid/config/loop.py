"""The ``[loop]`` table of a run configuration (read by ``idaes-hybrid loop``).

::

    [loop]
    plant = "plant.py:run_batch"   # or "reference": the [reference] kinetics as the plant
    rounds = 5                     # batches run, each followed by an update
    noise_sd = {X = 0.05, P = 0.05, S = 0.5, V = 0.1}   # measurement noise (fit weights)
    samples = 41                   # "reference" only: measurement times per batch
    seed = 0                       # "reference" only: seed of the measurement noise
    anchor = true                  # regularize each update towards the weights before it
    proximal = 0.01                # pull of each optimum towards the best batch so far

The batch optimized every round is the ``[optimization]`` table's (required).
:func:`parse_loop` raises a :class:`~idaes_hybrid.config.checks.ConfigError` whose
message starts with the field, e.g. ``loop.rounds: must be >= 1, got 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from idaes_hybrid.config.checks import ConfigError, as_table, integer, number, reject_unknown
from idaes_hybrid.config.flowsheet_parse import load_build_function
from idaes_hybrid.model.definition import HybridModelDefinition
from idaes_hybrid.optimize.closed_loop import DEFAULT_PROXIMAL, DEFAULT_ROUNDS

#: Keys of the ``[loop]`` table.
LOOP_KEYS = ("plant", "rounds", "noise_sd", "samples", "seed", "anchor", "proximal")
#: Defaults of the optional keys.
LOOP_DEFAULTS = {"rounds": DEFAULT_ROUNDS, "samples": 41, "seed": 0, "anchor": True,
                 "proximal": DEFAULT_PROXIMAL}
#: ``plant`` value that simulates the plant with the ``[reference]`` kinetics.
REFERENCE_PLANT = "reference"


@dataclass
class LoopSettings:
    """The checked ``[loop]`` table.

    Attributes
    ----------
    plant : str
        ``"reference"`` or ``"module.py:function"`` (relative to ``base_dir``).
    base_dir : pathlib.Path
        Directory of the config.
    rounds : int
        Number of batches run, each followed by an update.
    noise_sd : dict[str, float] or None
        Measurement noise sd per state (the update's fit weights; the reference plant's noise).
    samples, seed : int
        Measurement times per batch and noise seed of the reference plant.
    anchor : bool
        Regularize each update towards the weights before it (else towards zero).
    proximal : float
        Weight of the pull of each round's optimum towards the best batch so far
        (:func:`idaes_hybrid.optimize.closed_loop.run_closed_loop`).
    """

    plant: str
    base_dir: Path
    rounds: int = LOOP_DEFAULTS["rounds"]
    noise_sd: dict[str, float] | None = None
    samples: int = LOOP_DEFAULTS["samples"]
    seed: int = LOOP_DEFAULTS["seed"]
    anchor: bool = LOOP_DEFAULTS["anchor"]
    proximal: float = LOOP_DEFAULTS["proximal"]

    @property
    def is_reference(self) -> bool:
        """The plant is the ``[reference]`` kinetics."""
        return self.plant == REFERENCE_PLANT

    def plant_function(self) -> Callable:
        """The user's ``plant(profile, round)`` function (imports its module)."""
        return load_build_function(self.plant, self.base_dir, field="loop.plant")


def _noise_sd(value: Any, names: Sequence[str], owner: str) -> dict[str, float]:
    table = as_table(value, "loop.noise_sd")
    out = {}
    for name, sd in table.items():
        if name not in names:
            raise ConfigError(f"loop.noise_sd.{name}: not a variable of {owner}; "
                              f"valid names: {list(names)}")
        out[name] = number(sd, f"loop.noise_sd.{name}", lower=0.0, inclusive=False)
    if not out:
        raise ConfigError("loop.noise_sd: expected at least one variable = sd")
    return out


def _plant(value: Any, base_dir: Path, reference_missing: str | None) -> str:
    if value is None:
        raise ConfigError(f"loop.plant: required key missing ({REFERENCE_PLANT!r} or "
                          "'module.py:function')")
    if value == REFERENCE_PLANT:
        if reference_missing:
            raise ConfigError(f"loop.plant: 'reference' needs {reference_missing}")
        return value
    if not isinstance(value, str) or value.count(":") != 1:
        raise ConfigError(f"loop.plant: expected {REFERENCE_PLANT!r} or 'module.py:function', "
                          f"got {value!r}")
    path = (base_dir / value.split(":")[0]).resolve()
    if not path.is_file():
        raise ConfigError(f"loop.plant: module file '{path}' not found")
    return value


def parse_loop(table: Any, base_dir: str | Path, definition: HybridModelDefinition,
               reference: dict[str, float] | None, has_optimization: bool) -> LoopSettings | None:
    """Check the optional ``[loop]`` table; ``None`` if absent.

    Parameters
    ----------
    table : Any
        The table as parsed from TOML (or ``None``).
    base_dir : str or pathlib.Path
        Directory of the config (a plant module's path is relative to it).
    definition : HybridModelDefinition
        The hybrid model.
    reference : dict or None
        The ``[reference]`` parameters (needed by ``plant = "reference"``).
    has_optimization : bool
        Whether the config has an ``[optimization]`` table (required with ``[loop]``).

    Raises
    ------
    ConfigError
        An unknown key or a bad value; the message starts with the field.
    """
    return parse_loop_table(table, base_dir, list(definition.state_names), repr(definition.name),
                            None if reference is not None else "the true kinetics in a [reference] table",
                            has_optimization)


def parse_loop_table(table: Any, base_dir: str | Path, names: Sequence[str], owner: str,
                     reference_missing: str | None, has_optimization: bool) -> LoopSettings | None:
    """Check the optional ``[loop]`` table of either kind of config; ``None`` if absent.

    ``names``: the variables ``noise_sd`` may name (of ``owner``, for messages);
    ``reference_missing``: why ``plant = "reference"`` cannot run (``None``: it can).
    """
    if table is None:
        return None
    table = as_table(table, "loop")
    reject_unknown(table, LOOP_KEYS, "loop")
    base_dir = Path(base_dir)
    if not has_optimization:
        raise ConfigError("loop: needs an [optimization] table (the batch optimized every round)")
    plant = _plant(table.get("plant"), base_dir, reference_missing)
    rounds = integer(table.get("rounds", LOOP_DEFAULTS["rounds"]), "loop.rounds", lower=1)
    noise = table.get("noise_sd")
    noise_sd = None if noise is None else _noise_sd(noise, names, owner)
    if plant == REFERENCE_PLANT and noise_sd is None:
        raise ConfigError("loop.noise_sd: required with plant = 'reference' (the variables "
                          "measured and their noise sd)")
    samples = integer(table.get("samples", LOOP_DEFAULTS["samples"]), "loop.samples", lower=2)
    seed = integer(table.get("seed", LOOP_DEFAULTS["seed"]), "loop.seed", lower=0)
    anchor = table.get("anchor", LOOP_DEFAULTS["anchor"])
    if not isinstance(anchor, bool):
        raise ConfigError(f"loop.anchor: expected true or false, got {anchor!r}")
    proximal = number(table.get("proximal", LOOP_DEFAULTS["proximal"]), "loop.proximal", lower=0.0)
    return LoopSettings(plant=plant, base_dir=base_dir, rounds=rounds, noise_sd=noise_sd,
                        samples=samples, seed=seed, anchor=anchor, proximal=proximal)
