"""The dataset card (``README.md`` with Hub YAML metadata) and overview plot of a simulated survey."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pyarrow.parquet as pq

from galfm.model_cards import render

from .. import schema
from . import instruments, priors


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def _overview_plot(out: Path) -> str | None:
    """Redshift, mass and u-r-like colour of the validation split, saved as ``overview.png``."""

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


SELECTION_FLAGS = (("r_limit", "--r-limit"), ("bright_fraction", "--bright-fraction"),
                   ("bright_r_limit", "--bright-r-limit"), ("min_spectrum_snr", "--min-spectrum-snr"),
                   ("anomaly_fraction", "--anomaly-fraction"), ("shard_size", "--shard-size"))


def simulate_command(config) -> str:
    """The `galfm simulate` command that writes this survey again, with every selection option that is not the
    default (a card that left them out would reproduce another survey)."""
    default = type(config)(n=config.n, variant=config.variant)
    options = "".join(f" {flag} {getattr(config, name)}" for name, flag in SELECTION_FLAGS
                      if getattr(config, name) != getattr(default, name))
    return (f"galfm simulate --n {config.n} --seed {config.seed} --surveys {','.join(config.surveys)} "
            f"--variant {config.variant}{options} --out DIR")


def write_dataset_card(out: Path, config, summary: dict, split_names: Sequence[str], variants: Mapping[str, str]
                       ) -> None:
    """``out/README.md`` (+ ``overview.png``) of a written survey; ``variants``: name -> what it adds."""
    plot = _overview_plot(out)
    splits = "\n".join(f"  - split: {s}\n    path: data/{s}-*" for s in split_names if summary["splits"][s])
    command = simulate_command(config)
    counts = ", ".join(f"{k}: {v}" for k, v in summary["splits"].items())
    anomalies = ", ".join(f"{k}: {v}" for k, v in summary["anomalies"].items())
    text = render("dataset_simulated.md", variant=config.variant, size_category=_size_category(config.n),
                  splits=splits, command=command, cosmology=config.cosmology.name, surveys=", ".join(config.surveys),
                  counts=counts, anomalies=anomalies, overview=f"![overview]({plot})" if plot else "",
                  priors=priors.__doc__, instruments=instruments.__doc__,
                  variants="\n".join(f"  {name:9s} {text}" for name, text in variants.items()),
                  fields=schema.__doc__)
    (out / "README.md").write_text(text)
