"""A directory of one survey's own files as a ``datasets`` builder, and ``load_survey`` to use it in one call.

Each survey module provides a ``SurveyReader`` (the file patterns it reads and a function from one file to
galaxy records) and a subclass of ``SurveyFilesBuilder`` naming it; `galfm.datasets_scripts.surveys` lists them.
``SurveyFilesBuilder`` (a ``datasets.GeneratorBasedBuilder``, used directly: datasets >= 4 has
no loading scripts) walks ``data_dir``; a file that cannot be read is reported by name and skipped, and the
count of skipped files is logged at the end, so one corrupt download never costs the rest.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from .schema import GALAXY_FEATURES, validate_record
from .survey_reader import SurveyReader

logger = logging.getLogger("galfm.datasets")


@dataclass
class SurveyFilesConfig(datasets.BuilderConfig):
    """``data_dir``: the survey's files; ``fingerprint``: sizes and dates of those files (cache invalidation)."""

    survey: str = ""
    fingerprint: str = ""
    reader_options: dict = field(default_factory=dict)


def survey_files(reader: SurveyReader, data_dir: str | os.PathLike) -> list[Path]:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data_dir {data_dir}: no such directory (the folder of {reader.name} files).")
    patterns = [*reader.patterns, *(f"{p}.gz" for p in reader.patterns if p.endswith(".fits"))]  # gzipped FITS
    files = sorted({p for pattern in patterns for p in data_dir.rglob(pattern) if p.is_file()})
    if not files:
        raise FileNotFoundError(f"data_dir {data_dir}: no {reader.name} files matching {list(reader.patterns)}.")
    return files


class SurveyFilesBuilder(datasets.GeneratorBasedBuilder):
    """Galaxy records from a directory of one survey's files.

    Each survey module subclasses it with its ``READER`` (e.g. ``galfm.datasets_scripts.sdss.SDSSSpectra``):

        builder = SDSSSpectra(data_dir="path/to/spectra")
        builder.download_and_prepare()
        ds = builder.as_dataset(split="train")
    """

    BUILDER_CONFIG_CLASS = SurveyFilesConfig
    VERSION = datasets.Version("1.0.0")
    READER: SurveyReader | None = None

    def __init__(self, *args, **kwargs):
        if self.READER is None:
            raise TypeError("SurveyFilesBuilder is the base class: use a survey's builder (e.g. "
                            "galfm.datasets_scripts.sdss.SDSSSpectra) or galfm.datasets_scripts.load_survey(name, ...)")
        kwargs["survey"] = self.READER.name
        if kwargs.get("data_dir") and not kwargs.get("fingerprint"):  # a changed folder is a new cache entry
            kwargs["fingerprint"] = _fingerprint(survey_files(self.READER, kwargs["data_dir"]))
            kwargs["data_dir"] = str(Path(kwargs["data_dir"]).resolve())
        super().__init__(*args, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=__doc__, features=GALAXY_FEATURES)

    def _split_generators(self, dl_manager):
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN,
                                        gen_kwargs={"files": survey_files(self.READER, self.config.data_dir)})]

    def _generate_examples(self, files: list[Path]):
        reader = self.READER
        skipped = []
        for path in files:
            try:
                records = list(reader.read(path, **self.config.reader_options))
            except (ValueError, OSError, KeyError) as err:
                skipped.append(path.name)
                logger.warning("%s: skipped %s: %s", reader.name, path, err)
                continue
            for i, record in enumerate(records):
                yield f"{path.name}:{i}", validate_record(record)
        if skipped:
            logger.warning("%s: %d of %d files skipped (%s); the rest loaded.", reader.name, len(skipped),
                           len(files), ", ".join(skipped))


def _fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for p in files:
        stat = p.stat()
        digest.update(f"{p}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
