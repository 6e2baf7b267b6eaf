"""idaes-hybrid: neural networks inside IDAES dynamic models, trained simultaneously."""

from idaes_hybrid.nn.block import NeuralNetworkBlock
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import Activation, NetworkConfigError, NetworkSpec
from idaes_hybrid.solver import (
    SolveResult, SolverChoice, SolverCrashError, SolverNotFoundError, SolveStatus, get_nlp_solver)
from idaes_hybrid.training.experiment import DataError, Experiment, Role
from idaes_hybrid.training.problem import Discretization
from idaes_hybrid.training.train import (
    HessianMode, TrainingError, TrainingResult, TrainingSettings, train)
from idaes_hybrid.units.contract import HybridUnit, KineticsMode
from idaes_hybrid.units.fed_batch import FedBatchReactor
from idaes_hybrid.units.registry import (
    FED_BATCH_BIOREACTOR, HybridModelDefinition, get_model_definition, register_model)

__version__ = "0.1.0"

__all__ = [
    "Activation", "DataError", "Discretization", "Experiment", "FED_BATCH_BIOREACTOR",
    "FedBatchReactor", "Formulation", "HessianMode", "HybridModelDefinition", "HybridUnit",
    "KineticsMode", "NetworkConfigError", "NetworkSpec", "NeuralNetworkBlock", "Role",
    "SolveResult", "SolveStatus", "SolverChoice", "SolverCrashError", "SolverNotFoundError",
    "TrainingError", "TrainingResult", "TrainingSettings", "get_model_definition",
    "get_nlp_solver", "register_model", "train",
]
