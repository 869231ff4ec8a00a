"""The simulated survey as a ``datasets.GeneratorBasedBuilder`` (datasets >= 4 has no loading scripts).

    builder = SimulatedGalaxies(n=2000, seed=0, surveys="desi,jpas", variant="clean")
    builder.download_and_prepare()
    ds = builder.as_dataset(split="train")

For large surveys prefer ``galfm simulate`` (Parquet shards, worker processes) and ``load_records(DIR)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets

from .schema import GALAXY_FEATURES
from .simulator.survey import SPLITS, SimulationConfig, iterate_chunks


@dataclass
class SimulatedGalaxiesConfig(datasets.BuilderConfig):
    n: int = 2000
    seed: int = 0
    surveys: str = "desi,sdss,jpas,galex,legacysurvey"
    variant: str = "clean"

    def simulation(self) -> SimulationConfig:
        return SimulationConfig(n=self.n, seed=self.seed, surveys=tuple(self.surveys.split(",")), variant=self.variant)


class SimulatedGalaxies(datasets.GeneratorBasedBuilder):
    """galfm's simulated galaxies (see ``galfm.datasets_scripts.simulator``)."""

    BUILDER_CONFIG_CLASS = SimulatedGalaxiesConfig
    BUILDER_CONFIGS = [SimulatedGalaxiesConfig(name="default")]
    VERSION = datasets.Version("1.0.0")

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=__doc__, features=GALAXY_FEATURES)

    def _split_generators(self, dl_manager):
        sim = self.config.simulation()
        sizes = sim.split_sizes
        start = 0
        generators = []
        for split, hf_split in zip(SPLITS, (datasets.Split.TRAIN, datasets.Split.VALIDATION, datasets.Split.TEST)):
            generators.append(datasets.SplitGenerator(name=hf_split, gen_kwargs={"start": start,
                                                                                 "stop": start + sizes[split]}))
            start += sizes[split]
        return generators

    def _generate_examples(self, start: int, stop: int):
        sim = self.config.simulation()
        index = 0
        for records in iterate_chunks(sim):
            for record in records:
                if start <= index < stop:
                    yield index, GALAXY_FEATURES.encode_example(record)
                index += 1
            if index >= stop:
                return
