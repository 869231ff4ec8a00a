"""Galaxy Zoo DECaLS PNG cut-outs and vote fractions (real files)."""

from __future__ import annotations

import pytest

from galfm.datasets_scripts.galaxyzoo import read_catalog


def test_images_and_labels(data_dir):
    records = read_catalog(data_dir / "galaxyzoo" / "gz_decals_subset.csv")
    assert [r["object_id"] for r in records] == ["gz-J000411.19+020924.0", "gz-J001655.18-002739.1",
                                                 "gz-J132053.75+121041.6"]
    assert [r["properties"]["morphology"] for r in records] == ["ring", "ring", "featured"]
    image = records[0]["image"]
    assert image["flux"].shape == (3, 424, 424) and 0 <= image["flux"].min() and image["flux"].max() <= 1
    assert "image_units=display" in records[0]["flags"]  # PNG values are not nanomaggies, and say so
    assert "gz_smooth-or-featured_featured-or-disk_fraction=0.6343" in records[0]["flags"]


def test_images_need_their_scale_to_tokenize(data_dir, processor):
    records = read_catalog(data_dir / "galaxyzoo" / "gz_decals_subset.csv")
    with pytest.raises(ValueError, match="image.pixel_scale: missing"):
        processor(records[0])
    scaled = read_catalog(data_dir / "galaxyzoo" / "gz_decals_subset.csv", pixel_scale=0.262, psf_fwhm=1.3)
    features = processor(scaled)
    assert features["image_values"].shape[0] == 3


def test_missing_png_is_named(tmp_path):
    csv = tmp_path / "votes.csv"
    csv.write_text("iauname,local_png_loc,ring\nJ1,J1.png,0\n")
    with pytest.raises(FileNotFoundError, match="J1.png"):
        read_catalog(csv)
