"""Galaxy records: the shared schema and readers that turn survey files into records."""

from .schema import GALAXY_FEATURES, validate_record

__all__ = ["GALAXY_FEATURES", "validate_record"]
