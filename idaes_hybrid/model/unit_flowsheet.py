"""A one-unit hybrid model as a flowsheet: how ``model = ...`` configurations run on the
flowsheet path.

:func:`unit_flowsheet` turns a :class:`~idaes_hybrid.model.definition.HybridModelDefinition`
(a hybrid unit class with named states, inputs and learned variables) into a
:class:`~idaes_hybrid.model.flowsheet.HybridFlowsheet` whose build puts one unit ``fs.unit``
on the flowsheet and whose single :class:`~idaes_hybrid.model.terms.NetworkTerm` maps the
network inputs (states) to the learned variables at every time point. The variables are
named as the definition names them (``X``, ``F``, ``mu``), so experiments, measurements and
outputs keep their names. :func:`unit_experiment` converts an experiment of such a config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from idaes.core import FlowsheetBlock

from idaes_hybrid.model.contract import ContractError, KineticsMode, check_contract
from idaes_hybrid.model.definition import HybridModelDefinition
from idaes_hybrid.model.experiment import Experiment
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.model.terms import NetworkTerm

#: Name of the flowsheet's unit in a translated one-unit model.
UNIT = "unit"


def add_unit(fs, definition: HybridModelDefinition, options: Mapping[str, Any]) -> None:
    """``fs.unit = definition.unit_class(dynamic=True, **options)``; an option its CONFIG does
    not declare is a :class:`~idaes_hybrid.model.contract.ContractError` naming it."""
    unit_class = definition.unit_class
    # the CONFIG is the data class's (Pyomo keeps it as _ComponentDataClass): checked first, so
    # that IDAES does not log a failed build with its traceback for a missing declaration
    config = getattr(getattr(unit_class, "_ComponentDataClass", None), "CONFIG", None)
    missing = [k for k in options if config is not None and k not in config]
    if missing:
        raise ContractError(_undeclared_option(definition, missing[0], options))
    try:
        fs.add_component(UNIT, unit_class(dynamic=True, **options))
    except Exception as err:  # noqa: BLE001 - the user's unit: say whose build failed
        key = re.search(r"key '([^']+)' not defined for ConfigDict", str(err))
        if key is not None:
            raise ContractError(_undeclared_option(definition, key.group(1), options)) from None
        raise ContractError(f"model {definition.name!r}: building its unit {unit_class.__name__} "
                            f"failed: {type(err).__name__}: {' '.join(str(err).split())}") from err


def _undeclared_option(definition: HybridModelDefinition, key: str, options: Mapping[str, Any]) -> str:
    return (f"model {definition.name!r}: its unit class {definition.unit_class.__name__} has no CONFIG "
            f"option {key!r}, which the workflow sets (options {sorted(options)}); declare it in the "
            "unit's CONFIG (docs/how-to/own-model.md)")


@dataclass(eq=True)
class UnitBuild:
    """``build(fs)`` of a one-unit hybrid model: ``fs.unit = unit_class(...)``, physics set.

    Attributes
    ----------
    definition
        The hybrid model.
    physics
        Physics parameters set on the unit (``set_physics``).
    network_inputs
        States fed to the network, in order (the unit's ``network_inputs`` option).
    unit_config
        Further CONFIG options of the unit (a config's ``[unit]`` table).
    kinetics
        ``EXTERNAL``: the learned variables are free (a network supplies them);
        ``REFERENCE``: the unit's own true term (the plant of synthetic studies).
    """

    definition: HybridModelDefinition
    physics: Mapping[str, float]
    network_inputs: Sequence[str]
    unit_config: Mapping[str, Any] = field(default_factory=dict)
    kinetics: KineticsMode = KineticsMode.EXTERNAL

    def __call__(self, fs: FlowsheetBlock) -> None:
        options = {**self.definition.unit_options(list(self.network_inputs)), **self.unit_config}
        if self.kinetics is not KineticsMode.EXTERNAL:  # EXTERNAL: every hybrid unit's default
            options["kinetics"] = self.kinetics
        add_unit(fs, self.definition, options)
        unit = getattr(fs, UNIT)
        check_contract(unit)  # ContractError naming the unit and what it lacks
        check_network_variables(unit, self.definition, self.network_inputs)
        unit.set_physics(**self.physics)


def check_network_variables(unit, definition: HybridModelDefinition, network_inputs: Sequence[str]) -> None:
    """The workflow feeds the network the unit's variables named in ``network_inputs`` and
    lets it supply those named in ``learned_names``; a unit whose ``network_input_vars(t)``
    or ``network_output_vars(t)`` give other variables is a ContractError (it would be
    silently overruled)."""
    t = unit.flowsheet().time.first()
    for method, option, names in (("network_input_vars", "network_inputs", list(network_inputs)),
                                  ("network_output_vars", "learned_names", list(definition.learned_names))):
        expected = [_time_var(unit, definition, n, t, option) for n in names]
        given = list(getattr(unit, method)(t))
        if [id(v) for v in given] != [id(v) for v in expected]:
            got = [v.parent_component().local_name for v in given]
            raise ContractError(f"model {definition.name!r}: {definition.unit_class.__name__}.{method}(t) gives "
                                f"{got}, but the network is wired to the unit's variables {names} "
                                f"({option}); make them the same")


def unit_path(name: str) -> str:
    """The time-indexed path of the unit's variable ``name``."""
    return f"fs.{UNIT}.{name}[*]"


def term_name(definition: HybridModelDefinition) -> str:
    """Name of the learned term (and of its network): the learned variables' names."""
    return "_".join(definition.learned_names)


def unit_flowsheet(definition: HybridModelDefinition, physics: Mapping[str, float],
                   network_inputs: Sequence[str], unit_config: Mapping[str, Any] | None = None
                   ) -> HybridFlowsheet:
    """The one-unit flowsheet of ``definition`` with its network term.

    Parameters
    ----------
    definition
        The hybrid model.
    physics
        Physics parameters (every one, defaults filled in).
    network_inputs
        States fed to the network, in order.
    unit_config
        Extra unit CONFIG options (``[unit]``).

    Returns
    -------
    HybridFlowsheet
        ``simulation_build`` adds the definition's ``simulation_unit_config``.
    """
    unit_config = dict(unit_config or {})
    build = UnitBuild(definition, dict(physics), tuple(network_inputs), unit_config)
    names = (*definition.state_names, *definition.input_names, *definition.learned_names)
    term = NetworkTerm(tuple(unit_path(n) for n in network_inputs),
                       tuple(unit_path(n) for n in definition.learned_names), term_name(definition))
    simulation = None
    if definition.simulation_unit_config:  # the run's [unit] options win
        simulation = UnitBuild(definition, dict(physics), tuple(network_inputs),
                               {**definition.simulation_unit_config, **unit_config})
    return HybridFlowsheet(build, [term], {n: unit_path(n) for n in names},
                           definition.time_units, simulation_build=simulation)


def true_build(definition: HybridModelDefinition, physics: Mapping[str, float],
               reference: Mapping[str, float], unit_config: Mapping[str, Any] | None = None
               ) -> UnitBuild:
    """The plant: the unit with its own reference term at ``reference``'s parameters."""
    return UnitBuild(definition, {**physics, **reference}, tuple(definition.default_network_inputs),
                     dict(unit_config or {}), KineticsMode.REFERENCE)


def unit_experiment(exp: Experiment, definition: HybridModelDefinition) -> FlowsheetExperiment:
    """``exp`` as a flowsheet experiment: the initial values of the states the definition
    fixes (all by default), the inputs, measurements, role and noise as given."""
    fixed = definition.initial_states
    return FlowsheetExperiment(exp.name, float(exp.horizon), exp.measurements,
                               initial={k: float(v) for k, v in exp.initial.items() if k in fixed},
                               inputs=dict(exp.inputs), role=exp.role,
                               noise_sd=dict(exp.noise_sd) if exp.noise_sd else None)


def _time_var(unit, definition: HybridModelDefinition, name: str, t: float, option: str):
    """The unit's variable ``name`` at time ``t``; a ContractError naming the definition's
    ``option`` if the unit has no such time-indexed variable."""
    var = getattr(unit, name, None)
    if var is None:
        raise ContractError(f"model {definition.name!r}: {option} names {name!r}, which the unit "
                            f"{definition.unit_class.__name__} does not have")
    try:
        return var[t]
    except (KeyError, TypeError, IndexError):
        raise ContractError(f"model {definition.name!r}: {option} names {name!r}, which is not indexed "
                            f"by the flowsheet's time in the unit {definition.unit_class.__name__}") from None
