"""Numbers the lectures compare models by."""

from __future__ import annotations

import math

import torch
from sklearn.neighbors import KNeighborsClassifier


def reconstruction_mse(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Mean squared error per pixel between images and their reconstructions."""
    if x.shape != x_hat.shape:
        raise ValueError(f"Shapes differ: x {tuple(x.shape)} vs x_hat {tuple(x_hat.shape)}.")
    return torch.mean((x.detach().cpu().double() - x_hat.detach().cpu().double()) ** 2).item()


def psnr(x: torch.Tensor, x_hat: torch.Tensor, max_value: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(max_value^2 / MSE); higher is better, identical images give inf."""
    mse = reconstruction_mse(x, x_hat)
    return math.inf if mse == 0 else 10.0 * math.log10(max_value**2 / mse)


def knn_accuracy(
    codes_train: torch.Tensor, y_train: torch.Tensor, codes_test: torch.Tensor, y_test: torch.Tensor, k: int = 5
) -> float:
    """Test accuracy of a k-nearest-neighbour classifier fitted on the training codes."""
    knn = KNeighborsClassifier(n_neighbors=k).fit(codes_train.detach().cpu().numpy(), y_train.cpu().numpy())
    return float(knn.score(codes_test.detach().cpu().numpy(), y_test.cpu().numpy()))


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angles in radians between the column spaces of a (d, k) and b (d, m), smallest first."""
    qa, _ = torch.linalg.qr(a.detach().cpu().double())  # orthonormal bases, (d, k) and (d, m)
    qb, _ = torch.linalg.qr(b.detach().cpu().double())
    cosines = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)  # descending cosines = ascending angles
    return torch.arccos(cosines)


@torch.no_grad()
def classification_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of inputs whose highest class score (the model's logits, computed on its device) equals the label."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}.")
    device = next(model.parameters()).device
    predictions = model(x.to(device)).argmax(dim=1).cpu()  # (n,)
    return (predictions == y.cpu()).double().mean().item()
