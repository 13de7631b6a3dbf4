"""The joint optimisation of cameras, scene scale, focal and people (DESIGN §4)."""

from josh.optimize.config import OptimConfig, Phase
from josh.optimize.solver import METHODS, MethodSwitches, reconstruct

__all__ = ["METHODS", "MethodSwitches", "OptimConfig", "Phase", "reconstruct"]
