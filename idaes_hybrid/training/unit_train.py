"""Training a one-unit hybrid model (:class:`~idaes_hybrid.model.definition.HybridModelDefinition`).

:func:`train` runs the one training path: the unit becomes a one-unit flowsheet whose
network term maps the network inputs to the learned variables
(:func:`~idaes_hybrid.model.unit_flowsheet.unit_flowsheet`), trained by
:func:`~idaes_hybrid.training.flowsheet_train.train_flowsheet` (smoother, pre-training,
simultaneous solve, validation by simulation).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Sequence

from idaes_hybrid.model.definition import HybridModelDefinition
from idaes_hybrid.model.unit_flowsheet import unit_experiment, unit_flowsheet
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.experiment import Experiment
from idaes_hybrid.training.flowsheet_train import train_flowsheet
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.problem import Discretization
from idaes_hybrid.training.train import NlpScaling, TrainingResult, TrainingSettings
from idaes_hybrid.training.warm_start import WarmStart, as_warm_start, check_warm_start


def train(
    definition: HybridModelDefinition,
    experiments: Sequence[Experiment],
    spec: NetworkSpec,
    disc: Discretization = Discretization(),
    physics: dict[str, float] | None = None,
    network_inputs: Sequence[str] | None = None,
    settings: TrainingSettings | None = None,
    tee: bool = False,
    warm_start: WarmStart | NetworkSpec | None = None,
    keep_values: bool = False,
) -> TrainingResult:
    """Train the network inside the hybrid model by the simultaneous approach.

    Parameters
    ----------
    definition
        The hybrid model (for example ``FED_BATCH_BIOREACTOR``).
    experiments
        Training and validation experiments (by their ``role``).
    spec
        Network sizes, activations and initial weights.
    disc
        Radau discretization.
    physics
        Known physics parameters (defaults from the definition).
    network_inputs
        States fed to the network (defaults from the definition).
    settings
        Training options.
    tee
        Stream solver output to the console.
    warm_start
        Start from a trained network (a model update, see
        :mod:`idaes_hybrid.training.warm_start`): the smoother and pre-training
        are skipped, the saved weights and normalization are loaded, the states
        start from simulations with them and (``WarmStart.anchor``) the
        regularization pulls towards the saved weights. ``spec`` then only gives
        the expected network shape.
    keep_values
        Keep the training experiments' solved values (``TrainingResult.solved_values``).
    """
    settings = unit_settings(settings or TrainingSettings())
    warm = None if warm_start is None else as_warm_start(warm_start)
    if warm is not None:
        check_warm_start(warm, spec)
    _check_experiments(definition, experiments)
    physics = {**definition.physics_defaults, **(physics or {})}
    inputs = tuple(network_inputs or definition.default_network_inputs)
    # one training path: the unit is a one-unit flowsheet, the network a term on its variables
    hf = unit_flowsheet(definition, physics, inputs, settings.unit_config)
    start = {hf.terms[0].name: spec if warm is None else warm.spec}
    anchor: bool | NetworkSpec = True
    if warm is not None:
        anchor = warm.anchor
        if warm.prior_centre is not None:  # a randomized-MAP member: the prior's own centre
            anchor = copy.deepcopy(warm.spec)
            anchor.set_flat_parameters(warm.centre())
    result = train_flowsheet(hf, [unit_experiment(e, definition) for e in experiments], start,
                             disc.nfe, disc.ncp, settings, tee=tee, warm=warm is not None,
                             anchor=anchor, keep_values=keep_values)
    result.model = HybridModel.of(definition, result.spec, physics=physics, network_inputs=inputs,
                                  disc=disc, unit_config=settings.unit_config,
                                  solver_options=settings.solver_options)
    return result


def _check_experiments(definition: HybridModelDefinition, experiments: Sequence[Experiment]) -> None:
    """Every experiment against the model's states and inputs (the message names the field);
    ``train_flowsheet`` checks that one has role ``train``."""
    for i, exp in enumerate(experiments):
        exp.validate(definition.state_names, definition.input_names, f"experiments[{i}] ({exp.name!r})")


#: Ipopt options of a one-unit model's training solves: Ipopt's own defaults (the flowsheet
#: path's ``TRAINING_OPTIONS`` change the start and the ordering for IDAES flowsheets; with
#: them the public cases end at other local optima of the same objective).
UNIT_SOLVER_DEFAULTS = {"obj_scaling_factor": 1.0, "bound_push": 0.01, "bound_frac": 0.01,
                        "constr_mult_init_max": 1000.0, "mumps_pivot_order": 7}


def unit_settings(settings: TrainingSettings) -> TrainingSettings:
    """``settings`` as a one-unit model trains with them: unless set, Ipopt's own row scaling
    (``GRADIENT``; the flowsheet default ``MAGNITUDE`` is for IDAES property packages whose
    energies in J sit beside weights of order 1) and Ipopt's default options
    (:data:`UNIT_SOLVER_DEFAULTS`)."""
    changes = {}
    if settings.scaling is None:
        changes["scaling"] = NlpScaling.GRADIENT
    if settings.solver_defaults is None:
        changes["solver_defaults"] = dict(UNIT_SOLVER_DEFAULTS)
    return dataclasses.replace(settings, **changes) if changes else settings
