"""Training checkpoints in safetensors and JSON only (no pickles): model, optimizer, scheduler, RNG, position.

    checkpoint-STEP/
      model.safetensors, config.json      the GalFMForPretraining weights (save_pretrained)
      optimizer.safetensors               every tensor of the optimizer state, keyed "<param index>.<name>"
      trainer_state.json                  step, epoch, examples seen, optimizer hyper-parameters, scheduler,
                                          loss history, python/numpy RNG states per rank
      rng-rankR.safetensors               torch CPU (and CUDA) generator state of rank R
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .sharding import full_model_state, full_optimizer_state, is_sharded, load_full_state

STATE_FILE = "trainer_state.json"


def _optimizer_tensors(state: dict) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer state dict as safetensors tensors "<param>.<name>" (param: its index, or its name when the
    model is sharded) and the JSON-able rest."""
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_checkpoint(folder: Path, accelerator, model, optimizer, scheduler, state: dict[str, Any]) -> None:
    """Write a checkpoint; every rank writes its RNG, the main process the rest."""
    folder.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    rank = accelerator.process_index
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    save_file(rng, str(folder / f"rng-rank{rank}.safetensors"))
    host_rng = {"python": random.getstate(), "numpy": np.random.get_state()}
    host = json.dumps({"python": [host_rng["python"][0], list(host_rng["python"][1]), host_rng["python"][2]],
                       "numpy": [host_rng["numpy"][0], host_rng["numpy"][1].tolist(), *host_rng["numpy"][2:]]})
    (folder / f"host-rng-rank{rank}.json").write_text(host)
    sharded = is_sharded(model)
    weights = full_model_state(model) if sharded else None  # every rank takes part in gathering the shards
    optimizer_state = full_optimizer_state(model, optimizer) if sharded else optimizer.state_dict()
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(folder, state_dict=weights, safe_serialization=True)
        tensors, structure = _optimizer_tensors(optimizer_state)
        save_file(tensors, str(folder / "optimizer.safetensors"))
        full = {**state, "optimizer": structure, "scheduler": scheduler.state_dict()}
        (folder / STATE_FILE).write_text(json.dumps(full, indent=1))
    accelerator.wait_for_everyone()


def load_checkpoint(folder: Path, accelerator, model, optimizer, scheduler) -> dict[str, Any]:
    """Restore what ``save_checkpoint`` wrote; returns the trainer state (step, history, ...)."""
    state = json.loads((folder / STATE_FILE).read_text())
    weights = load_file(str(folder / "model.safetensors"))
    sharded = is_sharded(model)
    tensors = load_file(str(folder / "optimizer.safetensors"))
    per_param: dict[int | str, dict[str, Any]] = {}
    for key, value in [*tensors.items(), *state["optimizer"]["scalars"].items()]:
        param, name = key.rsplit(".", 1)
        per_param.setdefault(param if sharded else int(param), {})[name] = value
    optimizer_state = {"state": per_param, "param_groups": state["optimizer"]["param_groups"]}
    if sharded:
        load_full_state(model, optimizer, weights, optimizer_state)
    else:
        accelerator.unwrap_model(model).load_state_dict(weights, strict=False)
        optimizer.load_state_dict(optimizer_state)
    scheduler.load_state_dict(state["scheduler"])
    rank = accelerator.process_index
    rng = load_file(str(folder / f"rng-rank{rank}.safetensors"))
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])
    host = json.loads((folder / f"host-rng-rank{rank}.json").read_text())
    random.setstate((host["python"][0], tuple(host["python"][1]), host["python"][2]))
    numpy_state = host["numpy"]
    np.random.set_state((numpy_state[0], np.array(numpy_state[1], dtype=np.uint32), *numpy_state[2:]))
    return state


def latest_checkpoint(output_dir: Path) -> Path | None:
    checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    complete = [c for c in checkpoints if (c / STATE_FILE).is_file()]
    return complete[-1] if complete else None
