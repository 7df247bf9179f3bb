"""Built-in simulated sessions, so the whole pipeline runs offline (``sim:NAME``)."""

from .lorenz import LorenzConfig, LorenzSimulation
from .maze import MazeConfig, MazeSimulation

SIMULATIONS = {"lorenz": (LorenzConfig, LorenzSimulation), "maze": (MazeConfig, MazeSimulation)}

__all__ = ["LorenzConfig", "LorenzSimulation", "MazeConfig", "MazeSimulation", "SIMULATIONS"]
