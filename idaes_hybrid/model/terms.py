"""Learned terms: where a network sits in a flowsheet.

A term yields *series*: for each place it applies (a reaction block, a variable
path), the network's input and output variables at every time point, in time
order. The training framework puts one network equation at each point; the
smoother penalizes the change of the outputs along each series.

* :class:`LearnedReactionTerm`: the rates (or rate constants) of a
  :class:`~idaes_hybrid.model.learned_reaction.LearnedRateReactionParameterBlock`,
  at every reaction block built on it (every unit, every time, every place).
* :class:`NetworkTerm`: a network on any indexed variables named by paths with
  ``*`` for the time (and space) index, e.g. a heat-transfer coefficient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import pyomo.environ as pyo

from idaes_hybrid.model import paths
from idaes_hybrid.model.learned_reaction import learned_reaction_blocks


@dataclass
class Series:
    """One place a term applies: inputs and outputs at each index, in time order."""

    key: str
    index: list
    inputs: list[list]
    outputs: list[list]
    #: The indexed component the series was taken from (series of one family differ
    #: only in their non-time index, e.g. the length points of one PFR).
    family: str = ""

    def times(self) -> list[float]:
        """Time of each point (the first index position)."""
        return [float(i[0] if isinstance(i, tuple) else i) for i in self.index]

    def place(self) -> tuple:
        """The non-time index shared by the series' points (``()`` for time alone)."""
        first = self.index[0]
        return tuple(first[1:]) if isinstance(first, tuple) else ()


class Term(Protocol):
    """What the framework needs of a learned term."""

    name: str

    def n_inputs_of(self, root: pyo.Block) -> int:
        """Network inputs of the term in the flowsheet under ``root``."""

    def n_outputs_of(self, root: pyo.Block) -> int:
        """Network outputs of the term in the flowsheet under ``root``."""

    def series(self, root: pyo.Block) -> list[Series]:
        """Every place the term applies under ``root`` (an experiment block)."""


def variable_label(var) -> str:
    """A short axis label of a term's variable: its component's local name with any index
    other than time and space, and its units, e.g. ``"conc_mol_comp[NaOH] (mol/m^3)"``."""
    comp = var.parent_component()
    label = comp.local_name
    idx = var.index()
    rest = [i for i in (idx if isinstance(idx, tuple) else (idx,))
            if i is not None and not isinstance(i, (int, float))]
    if rest:
        label += f"[{','.join(str(i) for i in rest)}]"
    units = pyo.units.get_units(var)
    return f"{label} ({units})" if units is not None and str(units) != "dimensionless" else label


def series_labels(series: Series) -> dict[str, list[str]]:
    """Axis labels of a series' network inputs and outputs (:func:`variable_label`)."""
    return {"inputs": [variable_label(v) for v in series.inputs[0]],
            "outputs": [variable_label(z) for z in series.outputs[0]]}


def _group(keyed: dict, key: str) -> list[Series]:
    """Group points ``{index: (inputs, outputs)}`` into time series by non-time index."""
    groups: dict = {}
    for idx, (v, z) in keyed.items():
        rest = idx[1:] if isinstance(idx, tuple) else ()
        groups.setdefault(rest, []).append((idx, v, z))
    out = []
    for rest, items in groups.items():
        items.sort(key=lambda it: float(it[0][0] if isinstance(it[0], tuple) else it[0]))
        name = key if not rest else f"{key}{list(rest)}"
        out.append(Series(name, [i for i, _, _ in items], [v for _, v, _ in items],
                          [z for _, _, z in items], key))
    return out


@dataclass(frozen=True)
class LearnedReactionTerm:
    """The network of a learned-rate reaction package.

    Attributes
    ----------
    package
        Path of the reaction parameter block in the flowsheet (``"fs.rxn"``).
    name
        Name of the term (and of its network in saved models).
    """

    package: str
    name: str = "kinetics"

    def _params(self, root: pyo.Block):
        obj = root.find_component(self.package)
        if not _is_learned_package(obj):
            found = [b.name.removeprefix(f"{root.name}.")
                     for b in root.component_data_objects(pyo.Block, descend_into=True)
                     if _is_learned_package(b)]
            raise paths.PathError(f"terms.{self.name}.package: {self.package!r} is not a "
                                  "LearnedRateReactionParameterBlock of the flowsheet (the flowsheet's: "
                                  f"{', '.join(found) or 'none'})")
        return obj

    def n_inputs_of(self, root: pyo.Block) -> int:
        return len(self._params(root).config.network_inputs)

    def n_outputs_of(self, root: pyo.Block) -> int:
        return len(self._params(root).learned_reaction_idx)

    def series(self, root: pyo.Block) -> list[Series]:
        params = self._params(root)
        blocks = learned_reaction_blocks(root, params)
        if not blocks:
            raise paths.PathError(f"terms.{self.name}: no unit under {root.name} uses the reaction "
                                  f"package {self.package!r}")
        out = []
        for blk in blocks:
            keyed = {i: (b.network_input_vars(), b.learned_vars()) for i, b in blk.items()}
            out.extend(_group(keyed, blk.name.split(".", 1)[-1] if "." in blk.name else blk.name))
        return out


@dataclass(frozen=True)
class NetworkTerm:
    """A network on any indexed variables: ``outputs[i] = NN(inputs[i])`` at every index.

    Attributes
    ----------
    inputs, outputs
        Variable paths with ``*`` at the time (and space) index, e.g.
        ``"fs.hx.area"`` is not allowed (no index) but ``"fs.hx.heat_duty[*]"`` is.
        All paths of a term share their indices.
    name
        Name of the term (and of its network in saved models).
    """

    inputs: Sequence[str]
    outputs: Sequence[str]
    name: str = "term"

    def n_inputs_of(self, root: pyo.Block) -> int:
        return len(self.inputs)

    def n_outputs_of(self, root: pyo.Block) -> int:
        return len(self.outputs)

    def series(self, root: pyo.Block) -> list[Series]:
        refs_in = [paths.resolve(root, p, f"terms.{self.name}.inputs[{i}]")
                   for i, p in enumerate(self.inputs)]
        refs_out = [paths.resolve(root, p, f"terms.{self.name}.outputs[{i}]")
                    for i, p in enumerate(self.outputs)]
        keys = list(refs_out[0].keys())
        for i, ref in enumerate([*refs_in, *refs_out]):
            missing = [k for k in keys if k not in ref]
            if missing:
                kind, j = ("inputs", i) if i < len(refs_in) else ("outputs", i - len(refs_in))
                raise paths.PathError(f"terms.{self.name}.{kind}[{j}]: has no index {missing[0]!r} "
                                      f"that {self.outputs[0]!r} has")
        keyed = {k: ([r[k] for r in refs_in], [r[k] for r in refs_out]) for k in keys}
        return _group(keyed, self.name)


def _is_learned_package(obj) -> bool:
    """Whether ``obj`` is a LearnedRateReactionParameterBlock (duck-typed: its reaction index
    and its ``learned`` option)."""
    return obj is not None and hasattr(obj, "rate_reaction_idx") and hasattr(getattr(obj, "config", None), "learned")
