"""Figures of a fine-tuned head on a test split: what a reader checks before trusting the numbers."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from galfm.properties_galfm import PROPERTIES, SFH_AGE_BIN_EDGES_GYR

from .metrics import load_metric, mass_weighted_log_age


def _figure(n_panels: int, size: float = 3.4):

    cols = min(n_panels, 4)
    rows = -(-n_panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.axis("off")
    return fig, axes.flat


def plot_properties(names, mean, std, truth, path: Path, max_points: int = 1500) -> None:
    """Predicted vs true with 1-sigma error bars per property; photo-z panels carry sigma_NMAD and outliers."""
    fig, axes = _figure(len(names))
    for i, (ax, name) in enumerate(zip(axes, names)):
        known = np.flatnonzero(np.isfinite(truth[:, i]))[:max_points]
        if known.size < 2:  # e.g. real spectra: a pipeline redshift, no stellar mass
            ax.text(0.5, 0.5, f"{name}: {known.size} labelled galaxies", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)
            ax.set(xticks=[], yticks=[])
            continue
        t, m, s = truth[known, i], mean[known, i], std[known, i]
        ax.errorbar(t, m, yerr=s, fmt=".", ms=2, alpha=0.3, elinewidth=0.5)
        lo, hi = np.nanpercentile(np.r_[t, m], [0.5, 99.5])
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        if name == "redshift":
            score = load_metric("photoz").compute(predictions=m, references=t)
            text = f"σ_NMAD={score['sigma_nmad']:.4f}\noutliers={100 * score['outlier_fraction']:.1f}%"
            ax.plot([lo, hi], [lo - 0.15 * (1 + lo), hi - 0.15 * (1 + hi)], "k:", lw=0.6)
            ax.plot([lo, hi], [lo + 0.15 * (1 + lo), hi + 0.15 * (1 + hi)], "k:", lw=0.6)
        else:
            text = f"R²={load_metric('regression').compute(predictions=m, references=t)['r2']:.3f}"
        ax.text(0.04, 0.96, text, transform=ax.transAxes, va="top", fontsize=8)
        unit = PROPERTIES[name].unit
        ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel=f"true {name} {f'[{unit}]' if unit else ''}",
               ylabel="predicted")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_posterior(names, samples, truth, path: Path) -> None:
    """Coverage curve per parameter: fraction of truths inside the central p interval against p."""
    fig, axes = _figure(1, 4.5)
    ax = axes[0]
    levels = np.linspace(0.05, 0.95, 19)
    for i, name in enumerate(names):
        known = np.isfinite(truth[:, i])
        s, t = samples[known, :, i], truth[known, i]
        cover = [np.mean((t >= np.quantile(s, 0.5 - p / 2, 1)) & (t <= np.quantile(s, 0.5 + p / 2, 1)))
                 for p in levels]
        ax.plot(levels, cover, label=name)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="credible interval", ylabel="fraction of truths inside", title="posterior calibration")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sfh(sfh_pred, sfh_true, path: Path, examples: int = 6) -> None:
    """Example SFHs (mass fraction per age bin, predicted vs true) and the mass-weighted age scatter."""
    fig, axes = _figure(examples + 1)
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR)
    known = np.flatnonzero(np.isfinite(sfh_true).all(-1))
    for ax, g in zip(axes, known[:examples]):
        ax.stairs(sfh_true[g], np.maximum(edges, 3e-3), label="true", color="k")
        ax.stairs(sfh_pred[g], np.maximum(edges, 3e-3), label="predicted", color="C1")
        ax.set(xscale="log", xlabel="lookback time [Gyr]", ylabel="mass fraction")
    axes[0].legend(fontsize=8)
    ax = axes[examples]
    ax.plot(mass_weighted_log_age(sfh_true[known]), mass_weighted_log_age(sfh_pred[known]), ".", ms=2, alpha=0.4)
    ax.axline((0, 0), slope=1, color="k", lw=0.8)
    ax.set(xlabel="true log mass-weighted age [Gyr]", ylabel="predicted")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion(logits, labels, label2id, path: Path) -> None:
    names = sorted(label2id, key=label2id.get)
    known = labels >= 0
    matrix = np.zeros((len(names), len(names)))
    np.add.at(matrix, (labels[known], logits[known].argmax(1)), 1)
    matrix /= matrix.sum(1, keepdims=True).clip(1)
    fig, axes = _figure(1, 4.5)
    ax = axes[0]
    ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xlabel="predicted", ylabel="true")
    ax.set_xticklabels(names, rotation=45, fontsize=8)
    ax.set_yticklabels(names, fontsize=8)
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_task(task, outputs: dict, labels: np.ndarray, path: Path, label2id: dict | None = None) -> None:
    if task.name == "morphology":
        plot_confusion(outputs["logits"], labels, label2id, path)
    elif task.name == "sfh":
        plot_sfh(outputs["sfh"], labels[:, :-1], path)
    elif task.name == "posterior":
        plot_posterior(list(task.targets), outputs["samples"], labels, path)
    else:
        plot_properties(list(task.targets), outputs["mean"], outputs["std"], labels, path)
