"""Fully sharded data parallel (PyTorch FSDP2, ``fully_shard``) for models too big to copy onto every process.

``galfm pretrain --fsdp`` (``configs/large_fsdp.yaml``): each encoder `GalFMLayer` and then the whole model are
sharded, so parameters, gradients and AdamW state are split over the processes and a layer's weights are gathered
only while it computes. The same code runs on GPUs over NCCL and on CPUs over gloo (the smoke test). Accelerate
still launches the processes and sets up the process group; its own FSDP path accepts only accelerators, so the
loop shards the model here. Sharding needs the same sequence of layer calls on every rank, while ranks draw
different objectives: the model then encodes every objective's rows in one pass (``encoder_passes="one"``).
Checkpoints hold the full tensors, gathered, so a sharded run resumes like any other and its model loads with
``AutoModel``.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

from galfm.modeling_galfm import GalFMLayer

FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def shard_model(model: nn.Module, device: torch.device, bf16: bool = False) -> nn.Module:
    """Shard a `GalFMForPretraining` in place over every process (one mesh dimension). Rank 0's initial weights
    are broadcast first, so the run starts from one model whatever each rank drew. ``bf16``: compute in
    bfloat16, reduce gradients in float32."""
    model.config.pretraining_config.encoder_passes = "one"
    model.to(device)
    for tensor in [*model.parameters(), *model.buffers()]:
        dist.broadcast(tensor.data, src=0)
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else (
        MixedPrecisionPolicy())
    # scalars (the contrastive temperature) cannot be sharded: they stay whole on every rank, their gradients
    # averaged by `average_replicated_gradients` after each backward, as DDP would
    scalars = {p for p in model.parameters() if p.dim() == 0}
    # the encoder's layers one by one; the rest (embeddings, the light decoder, heads) is the root group,
    # gathered for the whole step, so that an objective no galaxy of a rank drew leaves no rank waiting
    for module in model.galfm.modules():
        if isinstance(module, GalFMLayer):
            fully_shard(module, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy, ignored_params=scalars)
    names = {p: n for n, p in model.named_parameters()}
    model.replicated_parameters = sorted(scalars, key=lambda p: names.get(p, ""))
    return model


def average_replicated_gradients(model: nn.Module) -> None:
    """Average the gradients of the parameters `shard_model` left whole (in one order on every rank)."""
    for parameter in getattr(model, "replicated_parameters", []):
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
        grad = parameter.grad
        local = grad.to_local() if hasattr(grad, "to_local") else grad  # a DTensor where sharded weights met it
        dist.all_reduce(local, op=dist.ReduceOp.SUM)
        local /= dist.get_world_size()


def is_sharded(model: nn.Module) -> bool:
    return isinstance(model, FSDPModule)


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The unsharded weights on CPU, on rank 0 (the other ranks take part in the gathering and get {})."""
    return get_model_state_dict(model, options=FULL)


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The unsharded optimizer state on rank 0, keyed by parameter name ({} elsewhere)."""
    return get_optimizer_state_dict(model, optimizer, options=FULL)


def load_full_state(model: nn.Module, optimizer: torch.optim.Optimizer, model_state: dict[str, torch.Tensor],
                    optimizer_state: dict) -> None:
    """Load full weights and optimizer state (every rank read them from the checkpoint) into the sharded model:
    each rank keeps its shard."""
    set_model_state_dict(model, model_state, options=StateDictOptions(full_state_dict=True, strict=False))
    set_optimizer_state_dict(model, optimizer, optimizer_state, options=StateDictOptions(full_state_dict=True))


def local_checksum(model: nn.Module) -> torch.Tensor:
    """Sum of this rank's shards (sharded) or of every parameter (replicated), as float64 (1,)."""
    total = sum((p.to_local() if hasattr(p, "to_local") else p).detach().double().sum() for p in model.parameters())
    return torch.as_tensor(total, dtype=torch.float64).reshape(1)
