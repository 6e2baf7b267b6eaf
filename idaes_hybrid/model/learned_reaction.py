"""An IDAES reaction package whose rates (or rate constants) a network supplies.

Build it on any IDAES property package and give it the rate reactions with their
stoichiometry; every unit that takes a reaction package (``CSTR``, ``PFR``, ...)
then works with it, dynamic or steady state, with heat of reaction::

    m.fs.rxn = LearnedRateReactionParameterBlock(
        property_package=m.fs.props,
        rate_reactions={"R1": {"NaOH": -1, "EthylAcetate": -1, "SodiumAcetate": 1, "Ethanol": 1}},
        learned=LearnedQuantity.RATE_CONSTANT,
        mass_action={"R1": {"NaOH": 1, "EthylAcetate": 1}},
        network_inputs=["temperature"],
        dh_rxn={"R1": -49000})

With ``LearnedQuantity.RATE_CONSTANT`` each reaction block has ``k_rxn[r]`` and
``reaction_rate[r] == k_rxn[r] * prod_j conc[j] ** order_j``; with
``LearnedQuantity.RATE`` the network gives ``reaction_rate[r]`` itself. The
learned variables are free in the package: the training framework adds the
network equations ``learned = NN(inputs)`` at every reaction block (or fixes
them for a plain simulation). The package takes the base units of its property
package (SI for IDAES's example packages; e.g. minutes with a generic property
package whose ``base_units`` give ``time: min``): rates are in amount/volume/time of
those units, ``dh_rxn`` is given in J/mol and converted.
"""

from __future__ import annotations

import enum
from typing import Any

import pyomo.environ as pyo
from pyomo.common.config import ConfigValue, In, ListOf
from pyomo.environ import units as pyunits

import idaes.logger as idaeslog
from idaes.core import (
    MaterialFlowBasis, ReactionBlockBase, ReactionBlockDataBase, ReactionParameterBlock,
    declare_process_block_class)
from idaes.core.util.exceptions import ConfigurationError

from idaes_hybrid.model import paths

_log = idaeslog.getLogger(__name__)

_BASE = ("time", "length", "mass", "amount", "temperature")


class LearnedQuantity(str, enum.Enum):
    """What the network supplies for each rate reaction."""

    #: The volumetric reaction rate itself (mol/m^3/s).
    RATE = "rate"
    #: A rate constant multiplying the user's mass-action term.
    RATE_CONSTANT = "rate_constant"


def _known_rates(value: Any) -> dict:
    if not isinstance(value, dict) or not all(callable(f) for f in value.values()):
        raise ConfigurationError("known_rates: expected {reaction: function(b) -> rate "
                                 f"expression}}, got {value!r}")
    return {str(k): f for k, f in value.items()}


def _table(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ConfigurationError(f"expected a table {{name: {{component: number}}}}, got {value!r}")
    return {str(k): {str(j): float(c) for j, c in dict(v).items()} for k, v in value.items()}


@declare_process_block_class("LearnedRateReactionParameterBlock")
class LearnedRateReactionParameterData(ReactionParameterBlock):
    """Reaction parameters: reactions, stoichiometry, heats of reaction, network inputs."""

    CONFIG = ReactionParameterBlock.CONFIG()
    CONFIG.declare("rate_reactions", ConfigValue(
        domain=_table, doc="Stoichiometry: {reaction: {component: coefficient}} "
                           "(components of the property package; missing ones are 0)"))
    CONFIG.declare("learned", ConfigValue(
        default=LearnedQuantity.RATE_CONSTANT, domain=In(LearnedQuantity),
        doc="Whether the network gives each reaction's rate or its rate constant"))
    CONFIG.declare("mass_action", ConfigValue(
        default=None, domain=_table,
        doc="Reaction orders {reaction: {component: order}} of the term multiplying k_rxn "
            "(LearnedQuantity.RATE_CONSTANT only; default: no concentration dependence)"))
    CONFIG.declare("concentration", ConfigValue(
        default="conc_mol_comp", domain=str,
        doc="State-block property holding molar concentrations (mol/m^3), indexed by component"))
    CONFIG.declare("network_inputs", ConfigValue(
        default=["temperature"], domain=ListOf(str),
        doc="State-block properties fed to the network, e.g. 'temperature', "
            "'conc_mol_comp[NaOH]'"))
    CONFIG.declare("dh_rxn", ConfigValue(
        default=None, domain=dict, doc="Heat of reaction per reaction, J/mol (default 0)"))
    CONFIG.declare("initial_value", ConfigValue(
        default=1.0, domain=float, doc="Starting value of the learned variables (the property package's units)"))
    CONFIG.declare("known_rates", ConfigValue(
        default=None, domain=_known_rates,
        doc="Reactions whose kinetics are known: {reaction: function(b) -> rate expression in "
            "mol/m^3/s}, b the reaction block (b.state_ref its state block); the network "
            "supplies the other reactions only"))

    def build(self) -> None:
        """Reaction set, stoichiometry, heats of reaction and orders."""
        # ReactionParameterBlock.build checks the units against the property package's:
        # this package takes the property package's base units (as IDAES's generic
        # reaction framework takes its base_units) before that check.
        super(ReactionParameterBlock, self).build()
        if self.config.property_package is None:
            raise ConfigurationError(
                f"{self.name}: property_package: a learned-rate reaction package needs the "
                "property package of the state blocks it reads (property_package=...)")
        base = self.config.property_package.get_metadata().derived_units
        self.get_metadata().add_default_units({q: getattr(base, q.upper()) for q in _BASE})
        self._validate_property_parameter_units()
        self._validate_property_parameter_properties()
        self._default_reaction_scaler_object = None
        if not self.config.rate_reactions:
            raise ConfigurationError(f"{self.name}: rate_reactions: give at least one reaction "
                                     "with its stoichiometry")
        self._reaction_block_class = LearnedRateReactionBlock
        props = self.config.property_package
        reactions = self.config.rate_reactions
        self.rate_reaction_idx = pyo.Set(initialize=list(reactions), ordered=True)
        known = dict(self.config.known_rates or {})
        self._check_known(known, reactions)
        self.learned_reaction_idx = pyo.Set(
            initialize=[r for r in reactions if r not in known], ordered=True,
            doc="Reactions whose rate (constant) the network supplies")
        self.known_reaction_idx = pyo.Set(
            initialize=[r for r in reactions if r in known], ordered=True,
            doc="Reactions with known kinetics (known_rates)")
        self.rate_reaction_stoichiometry = self._stoichiometry(props, reactions)
        heats = dict(self.config.dh_rxn or {})
        unknown = sorted(set(heats) - set(reactions))
        if unknown:
            raise ConfigurationError(f"{self.name}: dh_rxn names unknown reaction(s) {unknown}")
        energy = props.get_metadata().derived_units.ENERGY_MOLE
        self.dh_rxn = pyo.Param(self.rate_reaction_idx, mutable=True, units=energy, doc="Heat of reaction",
                                initialize={r: pyunits.convert_value(float(heats.get(r, 0.0)),
                                                                     pyunits.J / pyunits.mol, energy)
                                            for r in reactions})
        self.orders = self._orders(props, reactions)

    def _check_known(self, known: dict, reactions: dict) -> None:
        unknown = sorted(set(known) - set(reactions))
        if unknown:
            raise ConfigurationError(f"{self.name}: known_rates names unknown reaction(s) "
                                     f"{unknown}; valid: {list(reactions)}")
        if len(known) == len(reactions):
            raise ConfigurationError(
                f"{self.name}: known_rates covers every reaction: leave at least one for the "
                "network (or use a first-principles reaction package)")

    def _stoichiometry(self, props, reactions: dict) -> dict:
        comps = [str(j) for j in props.component_list]
        out = {}
        for r, coeffs in reactions.items():
            bad = sorted(set(coeffs) - set(comps))
            if bad:
                raise ConfigurationError(f"{self.name}: rate_reactions.{r}: {bad} not components "
                                         f"of {props.name}; valid: {comps}")
            for p, j in props.get_phase_component_set():
                out[r, p, j] = coeffs.get(str(j), 0.0)
        return out

    def _orders(self, props, reactions: dict) -> dict:
        orders = dict(self.config.mass_action or {})
        if orders and self.config.learned is LearnedQuantity.RATE:
            raise ConfigurationError(f"{self.name}: mass_action applies to "
                                     "learned=LearnedQuantity.RATE_CONSTANT only")
        comps = [str(j) for j in props.component_list]
        for r, table in orders.items():
            if r not in reactions:
                raise ConfigurationError(f"{self.name}: mass_action names unknown reaction {r!r}")
            if r in (self.config.known_rates or {}):
                raise ConfigurationError(f"{self.name}: mass_action.{r}: {r} has a known rate "
                                         "(known_rates gives its whole rate expression)")
            bad = sorted(set(table) - set(comps))
            if bad:
                raise ConfigurationError(f"{self.name}: mass_action.{r}: {bad} not components of "
                                         f"{props.name}; valid: {comps}")
        out = {r: dict(orders.get(r, {})) for r in self.learned_reaction_idx}
        totals = {sum(t.values()) for t in out.values()}
        if len(totals) > 1:
            raise ConfigurationError(f"{self.name}: mass_action: all learned reactions need the "
                                     f"same total order (k_rxn has one unit), got {out}")
        self.total_order = totals.pop()
        return out

    @classmethod
    def define_metadata(cls, obj) -> None:
        """Rates and rate constants (base units: the property package's, set in build)."""
        obj.add_properties({"k_rxn": {"method": None}, "reaction_rate": {"method": None}})
        obj.add_default_units({"time": pyunits.s, "length": pyunits.m, "mass": pyunits.kg,
                               "amount": pyunits.mol, "temperature": pyunits.K})


class _LearnedRateReactionBlock(ReactionBlockBase):
    """Methods on the indexed reaction block as a whole."""

    def initialize(blk, outlvl=idaeslog.NOTSET, **kwargs) -> None:
        """Nothing to solve: the learned variables keep their values (fixed or not)."""
        idaeslog.getInitLogger(blk.name, outlvl, tag="properties").info("Initialization Complete.")


@declare_process_block_class("LearnedRateReactionBlock", block_class=_LearnedRateReactionBlock)
class LearnedRateReactionBlockData(ReactionBlockDataBase):
    """One reaction state: learned variables, rate equations, network inputs."""

    def build(self) -> None:
        """Learned variable per reaction and, for rate constants, the mass-action rate."""
        super().build()
        params = self.config.parameters
        pcfg = params.config
        units = pcfg.property_package.get_metadata().derived_units
        rate_units = units.AMOUNT / units.VOLUME / units.TIME
        self.dh_rxn = pyo.Reference(params.dh_rxn)
        self.reaction_rate = pyo.Var(params.rate_reaction_idx, initialize=0.0, units=rate_units,
                                     doc="Volumetric rate of each reaction")
        known = pcfg.known_rates or {}
        self.known_rate_eq = pyo.Constraint(params.known_reaction_idx, rule=lambda b, r: (
            b.reaction_rate[r] == known[r](b)), doc="Known kinetics (known_rates)")
        if pcfg.learned is LearnedQuantity.RATE:
            for r in params.learned_reaction_idx:
                self.reaction_rate[r].set_value(pcfg.initial_value)
            return
        conc = getattr(self.state_ref, pcfg.concentration)
        self.k_rxn = pyo.Var(params.learned_reaction_idx, initialize=pcfg.initial_value,
                             units=rate_units / units.DENSITY_MOLE ** params.total_order,
                             doc="Learned rate constant of each learned reaction")
        self.rate_expression = pyo.Constraint(params.learned_reaction_idx, rule=lambda b, r: (
            b.reaction_rate[r] == b.k_rxn[r] * _mass_action(conc, params.orders[r])))

    def learned_vars(self) -> list:
        """Variables the network supplies, in reaction order (reactions of ``known_rates``
        left out)."""
        name = "k_rxn" if self.config.parameters.config.learned is LearnedQuantity.RATE_CONSTANT \
            else "reaction_rate"
        return [getattr(self, name)[r] for r in self.config.parameters.learned_reaction_idx]

    def network_input_vars(self) -> list:
        """State-block properties fed to the network, in ``network_inputs`` order."""
        out = []
        for i, path in enumerate(self.config.parameters.config.network_inputs):
            field = f"{self.config.parameters.name}.network_inputs[{i}]"
            try:
                out.append(paths.resolve(self.state_ref, path, field, require_wildcard=False))
            except paths.NotAVariableError:
                raise
            except paths.PathError:
                raise paths.PathError(
                    f"{field}: {path!r} is not a property of the state block "
                    f"{self.state_ref.name}") from None
        return out

    def get_reaction_rate_basis(self) -> MaterialFlowBasis:
        """Rates are molar."""
        return MaterialFlowBasis.molar

    def model_check(self) -> None:
        """No checks."""


def _mass_action(conc, orders: dict):
    """``prod_j conc[j] ** order_j`` (1 without orders)."""
    term = 1
    for j, n in orders.items():
        term = term * (conc[j] if n == 1 else conc[j] ** n)
    return term


def learned_reaction_blocks(root: pyo.Block, package) -> list:
    """Every indexed reaction block under ``root`` built on ``package``, in model order."""
    return [b for b in root.component_objects(pyo.Block, descend_into=True)
            if isinstance(b, _LearnedRateReactionBlock) and b.is_indexed()
            and next(iter(b.values())).config.parameters is package]
