"""idaes-hybrid: neural networks inside IDAES dynamic models, trained simultaneously."""

#: Public name -> the module that defines it; imported on first use (PEP 562), so that
#: ``import idaes_hybrid`` (and ``idaes-hybrid --help``) does not pay for IDAES, Pyomo's
#: DAE tools and TensorFlow until a name is used.
_LAZY = {
    "Activation": "idaes_hybrid.nn.network",
    "DataError": "idaes_hybrid.training.experiment",
    "Discretization": "idaes_hybrid.training.problem",
    "Experiment": "idaes_hybrid.training.experiment",
    "FED_BATCH_BIOREACTOR": "idaes_hybrid.cases.registry",
    "FedBatchReactor": "idaes_hybrid.cases.fed_batch",
    "FeedOptimizationResult": "idaes_hybrid.optimize.feed",
    "Formulation": "idaes_hybrid.nn.formulations",
    "HessianMode": "idaes_hybrid.training.train",
    "HybridModelDefinition": "idaes_hybrid.cases.registry",
    "HybridUnit": "idaes_hybrid.model.contract",
    "HybridUnitInitializer": "idaes_hybrid.model.initialization",
    "KineticsMode": "idaes_hybrid.model.contract",
    "NetworkConfigError": "idaes_hybrid.nn.network",
    "NlpScaling": "idaes_hybrid.training.train",
    "NetworkSpec": "idaes_hybrid.nn.network",
    "NeuralNetworkBlock": "idaes_hybrid.nn.block",
    "OptimizationError": "idaes_hybrid.optimize.feed",
    "PREDATOR_PREY": "idaes_hybrid.cases.registry",
    "PredatorPrey": "idaes_hybrid.cases.predator_prey",
    "Role": "idaes_hybrid.training.experiment",
    "SolveResult": "idaes_hybrid.solve.solver",
    "SolveStatus": "idaes_hybrid.solve.solver",
    "SolverChoice": "idaes_hybrid.solve.solver",
    "SolverCrashError": "idaes_hybrid.solve.solver",
    "SolverNotFoundError": "idaes_hybrid.solve.solver",
    "TANK_MANIFOLD": "idaes_hybrid.cases.registry",
    "TankManifold": "idaes_hybrid.cases.tank_manifold",
    "HybridModel": "idaes_hybrid.training.hybrid_model",
    "FeedRequest": "idaes_hybrid.optimize.feed",
    "TrainingError": "idaes_hybrid.training.train",
    "TrainingResult": "idaes_hybrid.training.train",
    "TrainingSettings": "idaes_hybrid.training.train",
    "TwinEstimate": "idaes_hybrid.twin.estimate",
    "UpdateResult": "idaes_hybrid.twin.update",
    "estimate_and_forecast": "idaes_hybrid.twin.unit_estimate",
    "evaluate_feed_on_reference": "idaes_hybrid.optimize.feed",
    "get_model_definition": "idaes_hybrid.cases.registry",
    "get_nlp_solver": "idaes_hybrid.solve.solver",
    "optimize_feed": "idaes_hybrid.optimize.feed",
    "train": "idaes_hybrid.training.unit_train",
    "update_model": "idaes_hybrid.twin.update",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'idaes_hybrid' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


from idaes_hybrid.compat import install as install_moved_module_paths
from idaes_hybrid.idaes_hook import configure_on_idaes_import

__version__ = "0.1.0"


# IDAES's get_solver() and unit initializers get a real solver (Ipopt via cyipopt, else
# POUNCE) on machines without an ipopt executable, as soon as IDAES's solvers are imported.
configure_on_idaes_import()
# idaes_hybrid.io, idaes_hybrid.units.fed_batch, ...: the modules of the former flat layout
install_moved_module_paths()

__all__ = [
    "Activation", "DataError", "Discretization", "Experiment", "FED_BATCH_BIOREACTOR",
    "FeedOptimizationResult", "FeedRequest", "FedBatchReactor", "Formulation", "HessianMode",
    "HybridModel", "HybridModelDefinition", "HybridUnit", "HybridUnitInitializer", "KineticsMode",
    "NetworkConfigError", "NetworkSpec", "NeuralNetworkBlock", "NlpScaling", "OptimizationError",
    "PREDATOR_PREY", "PredatorPrey", "Role", "SolveResult", "SolveStatus", "SolverChoice",
    "SolverCrashError", "SolverNotFoundError", "TANK_MANIFOLD", "TankManifold",
    "TrainingError", "TrainingResult", "TrainingSettings", "TwinEstimate", "UpdateResult",
    "estimate_and_forecast", "evaluate_feed_on_reference", "get_model_definition",
    "get_nlp_solver", "optimize_feed", "train", "update_model",
]
