"""One training loop for every model in the course: any model, any device, a progress bar."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from course_lib.device import autocast, get_device

LossFn = Callable[..., torch.Tensor]  # loss_fn(model, *batch) -> scalar loss


def reconstruction_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error between x and the model's reconstruction of it."""
    return nn.functional.mse_loss(model(x), x)


def classification_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between the model's class scores (logits) for x and the labels y."""
    return nn.functional.cross_entropy(model(x), y)


def train(
    model: nn.Module,
    data: torch.Tensor | tuple[torch.Tensor, ...],
    loss_fn: LossFn = reconstruction_loss,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = True,
    mixed_precision: bool = False,
) -> list[float]:
    """Train with Adam on shuffled mini-batches; return the mean loss of every epoch.

    `data` is one tensor (autoencoders: input = target) or a tuple of tensors
    with equal first dimension; each batch is passed on as loss_fn(model, *batch).
    mixed_precision: bf16 autocast on CUDA (course_lib.device.autocast); no effect on CPU.
    """
    tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be positive, got epochs={epochs}, batch_size={batch_size}.")
    device = get_device(device)
    model.to(device).train()
    generator = torch.Generator().manual_seed(seed)  # the shuffling order is part of the result
    loader = DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=True, generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if mixed_precision and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError("mixed_precision needs a GPU with bf16 (fp16 would need a gradient scaler); use fp32 here.")

    history = []
    bar = tqdm(range(epochs), desc=f"training {type(model).__name__}", disable=not progress, leave=False)
    for _ in bar:
        total, count = torch.zeros((), device=device), 0
        for batch in loader:
            batch = [t.to(device, non_blocking=True) for t in batch]
            with autocast(device, enabled=mixed_precision):
                loss = loss_fn(model, *batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(batch[0])  # stays on the device: no sync per step
            count += len(batch[0])
        history.append((total / count).item())
        bar.set_postfix(loss=f"{history[-1]:.4f}")
    model.eval()
    return history
