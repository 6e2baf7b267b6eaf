"""idaes-hybrid: neural networks inside IDAES dynamic models, trained simultaneously."""

from idaes_hybrid.nn.block import NeuralNetworkBlock
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import Activation, NetworkConfigError, NetworkSpec
from idaes_hybrid.optimize import (
    FeedOptimizationResult, OptimizationError, evaluate_feed_on_reference, optimize_feed)
from idaes_hybrid.solver import (
    SolveResult, SolverChoice, SolverCrashError, SolverNotFoundError, SolveStatus, get_nlp_solver)
from idaes_hybrid.training.experiment import DataError, Experiment, Role
from idaes_hybrid.training.problem import Discretization
from idaes_hybrid.training.train import (
    HessianMode, TrainingError, TrainingResult, TrainingSettings, train)
from idaes_hybrid.twin.estimate import TwinEstimate, estimate_and_forecast
from idaes_hybrid.twin.update import UpdateResult, update_model
from idaes_hybrid.units.contract import HybridUnit, KineticsMode
from idaes_hybrid.units.fed_batch import FedBatchReactor
from idaes_hybrid.units.initialization import HybridUnitInitializer
from idaes_hybrid.units.predator_prey import PredatorPrey
from idaes_hybrid.units.registry import (
    FED_BATCH_BIOREACTOR, PREDATOR_PREY, TANK_MANIFOLD, HybridModelDefinition,
    get_model_definition, register_model)
from idaes_hybrid.units.tank_manifold import TankManifold

__version__ = "0.1.0"


def _configure_idaes_solver() -> None:
    """Give IDAES's get_solver() and initializers a real solver on import (pip-only
    machines have no ipopt executable): Ipopt via cyipopt, else POUNCE."""
    from idaes_hybrid.solver import SolverNotFoundError, ensure_idaes_default_solver

    try:
        ensure_idaes_default_solver()
    except SolverNotFoundError as err:  # workflows raise it again where a solve is needed
        import idaes.logger as idaeslog

        idaeslog.getLogger(__name__).warning(f"IDAES default solver not configured: {err}")


_configure_idaes_solver()

__all__ = [
    "Activation", "DataError", "Discretization", "Experiment", "FED_BATCH_BIOREACTOR",
    "FeedOptimizationResult", "FedBatchReactor", "Formulation", "HessianMode",
    "HybridModelDefinition", "HybridUnit", "HybridUnitInitializer", "KineticsMode",
    "NetworkConfigError", "NetworkSpec", "NeuralNetworkBlock", "OptimizationError",
    "PREDATOR_PREY", "PredatorPrey", "Role", "SolveResult", "SolveStatus", "SolverChoice",
    "SolverCrashError", "SolverNotFoundError", "TANK_MANIFOLD", "TankManifold",
    "TrainingError", "TrainingResult", "TrainingSettings", "TwinEstimate", "UpdateResult",
    "estimate_and_forecast", "evaluate_feed_on_reference", "get_model_definition",
    "get_nlp_solver", "optimize_feed", "register_model", "train", "update_model",
]
