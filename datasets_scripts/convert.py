"""``galfm convert``: a directory of one survey's files -> Hub-ready Parquet shards + a dataset card."""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm.auto import tqdm

from galfm.model_cards import render

from .parquet_shards import ShardWriter
from .schema import __doc__ as SCHEMA_DOC
from .schema import validate_record
from .survey_files import survey_files
from .surveys import survey_reader

logger = logging.getLogger("galfm.datasets")


def convert_survey(survey: str, data_dir: str | Path, out: str | Path, shard_size: int = 1000,
                   progress: bool = True, **reader_options) -> dict:
    """Read every file of ``survey`` under ``data_dir`` and write ``out/data/train-*.parquet`` + ``out/README.md``.

    A file that cannot be read is reported and skipped; the summary lists it with the reason.
    """
    reader = survey_reader(survey)
    files = survey_files(reader, data_dir)
    writer = ShardWriter(out, shard_size=shard_size)
    skipped: dict[str, str] = {}
    n_records = 0
    for path in tqdm(files, desc=f"converting {survey}", unit="file", disable=not progress):
        try:
            records = [validate_record(r) for r in reader.read(path, **reader_options)]
        except (ValueError, OSError, KeyError) as err:
            skipped[str(path)] = str(err)
            logger.warning("%s: skipped %s: %s", survey, path, err)
            continue
        for record in records:
            writer.add("train", record)
        n_records += len(records)
    shards = writer.close()
    summary = {"survey": survey, "files": len(files), "skipped": skipped, "records": n_records, "shards": shards}
    _write_card(Path(out), reader, summary)
    return summary


def _write_card(out: Path, reader, summary: dict) -> None:
    skipped = "".join(f"\n- `{Path(p).name}`: {why}" for p, why in summary["skipped"].items()) or " none"
    text = render("dataset_survey.md", survey=reader.name, records=str(summary["records"]),
                  read=str(summary["files"] - len(summary["skipped"])), files=str(summary["files"]),
                  description=reader.description, skipped=skipped, fields=SCHEMA_DOC)
    (out / "README.md").write_text(text)
