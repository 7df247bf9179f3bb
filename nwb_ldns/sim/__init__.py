"""Built-in simulated sessions, so the whole pipeline runs offline (``sim:NAME``)."""

from .lorenz import LorenzConfig, LorenzSimulation

SIMULATIONS = {"lorenz": (LorenzConfig, LorenzSimulation)}

__all__ = ["LorenzConfig", "LorenzSimulation", "SIMULATIONS"]
