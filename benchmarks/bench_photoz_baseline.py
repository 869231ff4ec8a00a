"""How much redshift information the simulated J-PAS photometry holds: a k-nearest-neighbour baseline.

    python benchmarks/bench_photoz_baseline.py --data SURVEY [--k 5]

Features: asinh of each J-PAS flux over 1% of the galaxy's summed J-PAS flux (a flux-ratio, i.e. colour, vector),
standardised; distance-weighted k-NN regression trained on the train split, scored on the test split with the
same ``photoz`` metric module as the heads. A template-free ceiling for galfm's photo-z head on the same data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from sklearn.neighbors import KNeighborsRegressor
from sklearn.preprocessing import StandardScaler

from galfm.datasets_scripts import record_files
from galfm.training.benchmarking import r_band_magnitudes
from galfm.training.metrics import load_metric, scatter_in_context


def jpas_table(data: str, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(J-PAS fluxes, redshift, object ids) of a split, read column-wise without decoding spectra or images."""
    fluxes, z, ids = [], [], []
    for path in record_files(data)[split]:
        for row in pq.read_table(path, columns=["object_id", "photometry", "properties"]).to_pylist():
            bands, flux = row["photometry"]["band"], row["photometry"]["flux"]
            fluxes.append([f for b, f in zip(bands, flux) if b.startswith("jpas_")])
            z.append(row["properties"]["redshift"])
            ids.append(row["object_id"])
    return np.array(fluxes), np.array(z), np.array(ids)


def features(flux: np.ndarray) -> np.ndarray:
    total = np.abs(flux).sum(1, keepdims=True) + 1e-9
    return np.c_[np.arcsinh(flux / (0.01 * total)), np.log10(total)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    x_train, z_train, _ = jpas_table(args.data, "train")
    x_test, z_test, ids = jpas_table(args.data, "test")
    r_test = r_band_magnitudes(Path(args.data), ids)  # the r < 22 cut of the heads' rows
    scaler = StandardScaler().fit(features(x_train))
    knn = KNeighborsRegressor(args.k, weights="distance").fit(scaler.transform(features(x_train)), z_train)
    z_pred = knn.predict(scaler.transform(features(x_test)))
    metric = load_metric("photoz")
    print(f"k-NN (k={args.k}) on J-PAS flux ratios, {len(z_train)} training galaxies; median test z "
          f"{np.median(z_test):.3f}")
    for label, keep in (("r < 22", r_test < 22), ("all", np.isfinite(z_test))):
        score = metric.compute(predictions=z_pred[keep], references=z_test[keep])
        scatter = scatter_in_context({f"redshift/{k}": v for k, v in score.items()}, "redshift")
        print(f"| {label} ({score['count']} galaxies) | σ_NMAD {scatter}, outliers "
              f"{100 * score['outlier_fraction']:.1f}%, bias {score['bias']:+.4f} |")


if __name__ == "__main__":
    main()
