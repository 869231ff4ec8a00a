"""Galaxy records: the shared schema, the survey loaders, cross-matching and the simulated survey.

    from galfm.datasets_scripts import load_survey, crossmatch
    desi = load_survey("desi", data_dir="path/to/coadds", split="train")   # or streaming=True
"""

from .crossmatch import CrossmatchResult, crossmatch
from .parquet_shards import load_records, record_files
from .schema import GALAXY_FEATURES, validate_record
from .survey_files import SurveyFilesBuilder
from .surveys import SURVEY_BUILDERS, available_surveys, load_survey

__all__ = ["GALAXY_FEATURES", "SURVEY_BUILDERS", "CrossmatchResult", "SurveyFilesBuilder", "available_surveys",
           "crossmatch",
           "load_records", "load_survey", "record_files", "validate_record"]
