"""Fit an SFH head's rest-frame branch and readout on cached encoder summaries before the joint fine-tune.

A joint fine-tuning step pays a full encoder pass, so in a CPU budget the rest-frame branch sees each galaxy a
few times (4500 steps of 32 over 36000 galaxies: 4 epochs) and stays undertrained: on its own, fitted for 30
epochs on the same rest-frame spectra, it reads log Z to ~0.03 dex where the jointly fine-tuned head reached 0.05
(`benchmarks/RESULTS.md`). The encoder is not what the branch needs to learn from, so its summaries are computed
once (no gradient) beside each galaxy's rest-frame spectrum at its record redshift, and the branch and the head's
readout are fitted on that cache for many epochs at a few milliseconds a step; the joint fine-tune then starts
from a readout that already works (linear probing before fine-tuning, Kumar et al. 2022, with the branch as the
probe's feature extractor).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sized

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from galfm.heads_galfm import GalFMForStarFormationHistory

logger = logging.getLogger("galfm.rest_frame_warmup")


@torch.no_grad()
def cache_rest_frame_inputs(model: GalFMForStarFormationHistory, loader: DataLoader, progress: bool = True
                            ) -> dict[str, torch.Tensor]:
    """One pass over ``loader`` (collated task batches with ``labels`` and ``redshift``): per galaxy the encoder
    summary (float32), the rest-frame spectrum and its present mask at the given redshift, and the labels."""
    was_training = model.training
    model.eval()
    parts: dict[str, list[torch.Tensor]] = {"summary": [], "flux": [], "present": [], "labels": []}
    for batch in tqdm(loader, desc="rest-frame warm-up: caching summaries", disable=not progress):
        labels, redshift = batch.pop("labels"), batch.pop("redshift")
        summary = model.summary(**batch)
        flux, present = model.rest_frame.rest_frame(batch, redshift.double())
        parts["summary"].append(summary.float())
        parts["flux"].append(flux.float())
        parts["present"].append(present.bool())
        parts["labels"].append(labels.float())
    model.train(was_training)
    return {name: torch.cat(values) for name, values in parts.items()}


def _held_out_loss(model: GalFMForStarFormationHistory, cache: dict[str, torch.Tensor], index: torch.Tensor,
                   batch_size: int = 512) -> float:
    """The head's mean loss on the cached galaxies ``index`` (eval mode: no dropout)."""
    model.eval()
    total = 0.0
    with torch.no_grad():
        for chunk in index.split(batch_size):
            features = torch.cat([cache["summary"][chunk],
                                  model.rest_frame.encode(cache["flux"][chunk], cache["present"][chunk].float())], -1)
            total += float(model.predict(features, cache["labels"][chunk]).loss) * len(chunk)
    model.train()
    return total / len(index)


def warm_up_rest_frame(model: GalFMForStarFormationHistory, train: Sized, collator, epochs: float,
                       learning_rate: float, batch_size: int = 32, weight_decay: float = 0.01, seed: int = 0,
                       num_workers: int = 0, progress: bool = True, held_out_fraction: float = 0.1) -> dict[str, float]:
    """Fit ``model.rest_frame`` and ``model.head`` for ``epochs`` passes over ``train`` (records, collated by
    the task's ``collator``) on cached summaries; the encoder is untouched.

    ``held_out_fraction`` of the galaxies (seeded) are kept out of the fit and scored after every epoch; the
    weights of the best epoch are kept, so a small training set is not memorised (20 epochs on 9000 galaxies left
    the log Z sigma covering 34% of the test galaxies where it claimed 68%). There is no early stop: while the
    cosine schedule's rate is high the held-out loss wanders (on 36000 MUSE-like galaxies it rose for three
    epochs after the second, where the full 20-epoch fit went on to 0.023 dex in log Z after the joint
    fine-tune). Returns what it did."""
    if model.rest_frame is None:
        raise ValueError("rest_frame_warmup_epochs: this SFH head has no rest-frame branch to warm up "
                         "(finetune it with rest_frame_spectrum on, or set rest_frame_warmup_epochs to 0)")
    start = time.perf_counter()
    loader = DataLoader(train, batch_size=64, collate_fn=collator, num_workers=num_workers)
    cache = cache_rest_frame_inputs(model, loader, progress)
    cached = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(cache["labels"]), generator=generator)
    held = max(1, round(held_out_fraction * len(order))) if len(order) > 1 else 0
    held_out, fitted = order[:held], order[held:]
    steps_per_epoch = max(1, math.ceil(len(fitted) / batch_size))
    steps = max(1, math.ceil(epochs * steps_per_epoch))
    parameters = [*model.rest_frame.parameters(), *model.head.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    schedule = get_cosine_schedule_with_warmup(optimizer, round(0.05 * steps), steps)
    best = (math.inf, 0, None)  # (held-out loss, epoch, weights)
    history: list[float] = []
    model.train()
    bar = tqdm(total=steps, desc="rest-frame warm-up: fitting", disable=not progress)
    for step in range(steps):
        index = fitted[torch.randint(len(fitted), (batch_size,), generator=generator)]
        features = torch.cat([cache["summary"][index],
                              model.rest_frame.encode(cache["flux"][index], cache["present"][index].float())], -1)
        loss = model.predict(features, cache["labels"][index]).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.update()
        if held and ((step + 1) % steps_per_epoch == 0 or step + 1 == steps):
            history.append(_held_out_loss(model, cache, held_out))
            bar.set_postfix(held_out_loss=f"{history[-1]:.3f}")
            if history[-1] < best[0]:
                weights = tuple({name: tensor.detach().clone() for name, tensor in part.state_dict().items()}
                                for part in (model.rest_frame, model.head))
                best = (history[-1], len(history), weights)
    bar.close()
    if best[2] is not None:
        model.rest_frame.load_state_dict(best[2][0])
        model.head.load_state_dict(best[2][1])
    model.zero_grad(set_to_none=True)
    summary = {"galaxies": len(order), "held_out": held, "steps": steps, "best_epoch": best[1],
               "epochs_run": len(history), "held_out_loss": best[0], "held_out_losses": history,
               "cache_seconds": cached - start, "fit_seconds": time.perf_counter() - cached}
    logger.info("rest-frame warm-up: %d galaxies (%d held out), %d steps of %d, best epoch %d of %d (held-out loss "
                "%.3f), %.0f s caching + %.0f s fitting", len(order), held, steps, batch_size, best[1],
                len(history), best[0], summary["cache_seconds"], summary["fit_seconds"])
    return summary


__all__ = ["cache_rest_frame_inputs", "warm_up_rest_frame"]
