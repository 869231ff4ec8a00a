"""The table of survey file formats, as plain data: ``load_survey`` name -> the builder of that survey's files.

Adding a survey is one module (a ``SurveyReader`` and a ``SurveyFilesBuilder`` subclass naming it) and one line
here.
"""

from __future__ import annotations

import os

from .desi import DESISpectra
from .eso_phase3 import ESOPhase3Spectra
from .euclid import EuclidMERCatalog, EuclidSpectra
from .galaxyzoo import GalaxyZooDECaLS
from .galex import GALEXCatalog
from .hsc import HSCCatalog
from .jpas import JPASCatalog, JPLUSCatalog
from .legacysurvey import LegacySurveyCatalog
from .manga import MaNGACubes
from .muse import MUSECubes
from .phangs import PHANGSHSTCatalog
from .sdss import SDSSSpectra
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader

SURVEY_BUILDERS: dict[str, type[SurveyFilesBuilder]] = {
    builder.READER.name: builder
    for builder in (SDSSSpectra, DESISpectra, LegacySurveyCatalog, GALEXCatalog, HSCCatalog, JPASCatalog, JPLUSCatalog,
                    EuclidSpectra, EuclidMERCatalog, MUSECubes, MaNGACubes, PHANGSHSTCatalog, GalaxyZooDECaLS,
                    ESOPhase3Spectra)
}


def survey_reader(survey: str) -> SurveyReader:
    """The reader of ``survey`` (one of `available_surveys`)."""
    if survey not in SURVEY_BUILDERS:
        raise ValueError(f"survey {survey!r}: unknown; known: {', '.join(sorted(SURVEY_BUILDERS))}.")
    return SURVEY_BUILDERS[survey].READER


def load_survey(survey: str, data_dir: str | os.PathLike, split: str = "train", streaming: bool = False,
                cache_dir: str | None = None, **reader_options):
    """Galaxy records of a directory of survey files as a ``datasets.Dataset`` (or ``IterableDataset``).

    ``survey``: one of ``available_surveys()``. ``reader_options`` go to the survey's reader (e.g.
    ``aperture_arcsec`` for MUSE cubes).
    """
    survey_reader(survey)
    builder = SURVEY_BUILDERS[survey](cache_dir=cache_dir, data_dir=data_dir, reader_options=reader_options)
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare()
    return builder.as_dataset(split=split)


def available_surveys() -> list[str]:
    return sorted(SURVEY_BUILDERS)


__all__ = ["SURVEY_BUILDERS", "available_surveys", "load_survey", "survey_reader"]
