"""Task labels: a pipeline redshift flagged by its survey stays in the record but never becomes a label."""

from __future__ import annotations

import math

import pytest

from galfm.training.tasks import get_task


def test_a_flagged_pipeline_redshift_is_not_a_label():
    task = get_task("properties").with_options(targets=["redshift", "log_mstar"])
    records = [
        {"properties": {"redshift": 0.12, "log_mstar": 10.5}, "flags": ["sdss_class=GALAXY", "sdss_z_err=1e-05"]},
        {"properties": {"redshift": 0.40, "log_mstar": 10.1}, "flags": ["sdss_class=GALAXY", "sdss_zwarning=4"]},
        {"properties": {"redshift": 0.70, "log_mstar": None}, "flags": ["desi_spectype=GALAXY", "desi_zwarn=1024"]},
    ]
    labels = task.labels(records)
    assert labels[0].tolist() == pytest.approx([0.12, 10.5])
    assert math.isnan(labels[1, 0]) and float(labels[1, 1]) == pytest.approx(10.1)
    assert math.isnan(labels[2, 0]) and math.isnan(labels[2, 1])
    assert records[1]["properties"]["redshift"] == 0.40  # the record itself keeps it
