"""A physically grounded simulated multimodal galaxy survey: galfm's default data (``galfm simulate``).

``sed`` (stellar populations, nebular emission, dust, IGM) is the galaxy's rest-frame physics;
``instruments`` are the surveys that observe it; ``priors`` the population; ``survey`` writes the records.
"""

from .sed import GalaxyParameters, GalaxySED, RestFrameSED
from .survey import SimulationConfig, finalize_survey, simulate, simulate_chunk, write_survey

__all__ = ["GalaxyParameters", "GalaxySED", "RestFrameSED", "SimulationConfig", "finalize_survey", "simulate",
           "simulate_chunk", "write_survey"]
