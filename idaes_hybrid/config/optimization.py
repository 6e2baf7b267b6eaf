"""The ``[optimization]`` table of a run configuration (read by ``idaes-hybrid optimize``).

::

    [optimization]
    experiment = "b1"        # supplies initial, Sf and horizon (each may be overridden)
    intervals = 10           # equal intervals of the piecewise-constant feed
    F_min = 0.0              # feed bounds
    F_max = 0.2
    V_max = 2.5              # volume limit at every time
    compare_reference = true # also solve with the true kinetics of [reference]

:func:`parse_optimization` is called by
:func:`idaes_hybrid.config.run.run_config_from_dict`; every problem, including an
infeasible request (:func:`idaes_hybrid.optimize.feed.check_feed_request`), raises a
:class:`~idaes_hybrid.config.run.ConfigError` whose message starts with the field,
e.g. ``optimization.V_max: 0.5 is below the initial volume V = 1.0; ...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from idaes_hybrid.config.checks import ConfigError, as_table, integer, number, reject_unknown, valid_names
from idaes_hybrid.optimize.ensemble import EnsembleObjective
from idaes_hybrid.optimize.feed import (FeedRequest, OptimizationRequestError, check_feed_model,
                                        check_feed_request)
from idaes_hybrid.training.experiment import Experiment
from idaes_hybrid.model.definition import HybridModelDefinition
from idaes_hybrid.model.trust_region import TrustShape

#: Keys of the ``[optimization]`` table.
OPTIMIZATION_KEYS = ("experiment", "initial", "Sf", "horizon", "intervals", "F_min", "F_max",
                     "V_max", "compare_reference", "trust_region", "trust_margin", "ensemble")
#: Defaults of the optional keys.
OPTIMIZATION_DEFAULTS = {"intervals": 10, "F_min": 0.0, "compare_reference": True, "trust_region": False,
                         "trust_margin": 0.0}


@dataclass
class OptimizationSettings:
    """The checked ``[optimization]`` table: a feed-optimization request.

    Attributes
    ----------
    experiment : str or None
        Experiment that supplied ``initial``, ``Sf`` and ``horizon`` (``None``: all explicit).
    initial : dict[str, float]
        Initial value of every state.
    Sf, horizon : float
        Feed substrate concentration and final time.
    intervals : int
        Number of equal intervals of the piecewise-constant feed.
    F_min, F_max : float
        Bounds of the feed on every interval.
    V_max : float
        Volume limit at every time.
    compare_reference : bool
        Also compute the true optimum and check the hybrid-optimal feed on the
        true model (needs a ``[reference]`` table).
    trust_region : TrustShape or None
        Keep the network's inputs inside the region the training covered (the saved
        model's ``input_box``: each input's range, with ``"ellipsoid"`` also the smallest
        ellipsoid around the training inputs, with ``"hull"`` their convex hull) at every
        time point; ``None``: no trust region.
    trust_margin : float
        Widen that region by this fraction of each input's range on both sides.
    ensemble : EnsembleObjective or None
        Also optimize over the saved ensemble's members at once (``"expected"`` or
        ``"worst-case"`` product; the model must be trained with ``[uncertainty] method =
        "ensemble"``); ``None``: the nominal optimum only.
    """

    experiment: str | None
    initial: dict[str, float]
    Sf: float
    horizon: float
    intervals: int
    F_min: float
    F_max: float
    V_max: float
    compare_reference: bool = True
    trust_region: TrustShape | None = None
    trust_margin: float = 0.0
    ensemble: EnsembleObjective | None = None

    def request(self) -> FeedRequest:
        """The request as :func:`~idaes_hybrid.optimize.feed.optimize_feed` takes it."""
        return FeedRequest(self.initial, self.Sf, self.horizon, self.intervals,
                           (self.F_min, self.F_max), self.V_max)


def parse_trust_region(table: Mapping[str, Any]) -> tuple[TrustShape | None, float]:
    """``trust_region`` (``true`` = ``"box"``, ``"ellipsoid"``, ``"hull"`` or ``false``, default false) and
    ``trust_margin`` (>= 0, default 0) of an ``[optimization]`` table (unit and flowsheet
    configurations alike)."""
    value = table.get("trust_region", OPTIMIZATION_DEFAULTS["trust_region"])
    if value is True:
        trust = TrustShape.BOX
    elif value is False:
        trust = None
    elif isinstance(value, str) and value in {s.value for s in TrustShape}:
        trust = TrustShape(value)
    else:
        raise ConfigError("optimization.trust_region: expected true (the box), false, "
                          f"{' or '.join(repr(s.value) for s in TrustShape)}, got {value!r}")
    margin = number(table.get("trust_margin", OPTIMIZATION_DEFAULTS["trust_margin"]),
                    "optimization.trust_margin", lower=0.0)
    return trust, margin


def parse_optimization(table: Any, experiments: Sequence[Experiment],
                       definition: HybridModelDefinition,
                       reference: dict[str, float] | None) -> OptimizationSettings | None:
    """Check the optional ``[optimization]`` table; ``None`` if absent.

    Parameters
    ----------
    table : Any
        The table as parsed from TOML (or ``None``).
    experiments : Sequence[Experiment]
        The config's experiments (``experiment`` names one of them).
    definition : HybridModelDefinition
        The hybrid model.
    reference : dict or None
        The ``[reference]`` parameters (required by ``compare_reference = true``).

    Raises
    ------
    ConfigError
        An unknown key, a bad value or an infeasible request; the message starts
        with the field (``optimization.V_max: ...``).
    """
    if table is None:
        return None
    table = as_table(table, "optimization")
    reject_unknown(table, OPTIMIZATION_KEYS, "optimization")
    try:  # a model without a feed first: its missing keys would be the wrong complaint
        check_feed_model(definition, prefix="optimization.")
    except OptimizationRequestError as err:
        raise ConfigError(str(err)) from None
    name, base = table.get("experiment"), {"initial": {}, "Sf": None, "horizon": None}
    if name is not None:
        found = [e for e in experiments if e.name == name]
        if not found:
            raise ConfigError(f"optimization.experiment: {name!r} is not an experiment of the "
                              f"config; valid names: {valid_names(e.name for e in experiments)}")
        sf = found[0].inputs.get("Sf")
        if hasattr(sf, "check") and "Sf" not in table:  # a profile: the feed optimum needs one value
            raise ConfigError(f"optimization.Sf: required key missing (experiment {name!r} gives a "
                              "time-varying Sf; the feed optimization needs one number)")
        base = {"initial": dict(found[0].initial), "Sf": sf, "horizon": found[0].horizon}
    initial = {**base["initial"], **dict(as_table(table.get("initial", {}), "optimization.initial"))}
    values = {}
    for key in ("Sf", "horizon", "F_max", "V_max"):
        value = table.get(key, base.get(key))
        if value is None:
            hint = " (or name an experiment that supplies it)" if key in base else ""
            raise ConfigError(f"optimization.{key}: required key missing{hint}")
        values[key] = number(value, f"optimization.{key}")
    F_min = number(table.get("F_min", OPTIMIZATION_DEFAULTS["F_min"]), "optimization.F_min")
    intervals = integer(table.get("intervals", OPTIMIZATION_DEFAULTS["intervals"]),
                         "optimization.intervals", lower=1)
    compare = table.get("compare_reference", OPTIMIZATION_DEFAULTS["compare_reference"])
    if not isinstance(compare, bool):
        raise ConfigError(f"optimization.compare_reference: expected true or false, got {compare!r}")
    if compare and reference is None:
        raise ConfigError("optimization.compare_reference: needs the true kinetics in a "
                          "[reference] table; set it to false for real data")
    try:
        check_feed_request(definition, initial, values["Sf"], values["horizon"], intervals,
                           (F_min, values["F_max"]), values["V_max"], prefix="optimization.")
    except OptimizationRequestError as err:
        raise ConfigError(str(err)) from None
    trust, margin = parse_trust_region(table)
    return OptimizationSettings(experiment=name, initial=initial, intervals=intervals,
                                F_min=F_min, compare_reference=compare, trust_region=trust,
                                trust_margin=margin, ensemble=parse_ensemble(table), **values)


def parse_ensemble(table: Mapping[str, Any]) -> EnsembleObjective | None:
    """The ``ensemble`` key of an ``[optimization]`` table (unit and flowsheet configurations
    alike): ``"expected"``, ``"worst-case"`` or absent."""
    value = table.get("ensemble")
    if value is None:
        return None
    try:
        return EnsembleObjective(value)
    except ValueError:
        raise ConfigError(f"optimization.ensemble: expected one of "
                          f"{', '.join(repr(e.value) for e in EnsembleObjective)}, got {value!r}") from None
