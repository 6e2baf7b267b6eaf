"""The hybrid-model framework: learned terms on any IDAES flowsheet, and experiments."""

from idaes_hybrid.model.experiment import DataError, Role, read_measurements
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet, InitialState
from idaes_hybrid.model.inputs import InputProfile, Interpolation
from idaes_hybrid.model.learned_reaction import (
    LearnedQuantity, LearnedRateReactionParameterBlock, learned_reaction_blocks)
from idaes_hybrid.model.paths import PathError, resolve
from idaes_hybrid.model.terms import LearnedReactionTerm, NetworkTerm, Series

__all__ = [
    "DataError", "FlowsheetExperiment", "HybridFlowsheet", "InitialState", "InputProfile",
    "Interpolation", "LearnedQuantity", "LearnedRateReactionParameterBlock",
    "LearnedReactionTerm", "NetworkTerm", "PathError", "Role", "Series",
    "learned_reaction_blocks", "read_measurements", "resolve",
]
