"""Numbers the lectures compare models by."""

from __future__ import annotations

import math
import warnings

import torch
from sklearn.neighbors import KNeighborsClassifier

from course_lib.validation import require_tensor


def reconstruction_mse(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Mean squared error per pixel between images and their reconstructions."""
    _check_pair(x, x_hat)
    return _squared_errors(x, x_hat).mean().item()


def _check_pair(x: torch.Tensor, x_hat: torch.Tensor) -> None:
    require_tensor(x=x, x_hat=x_hat)
    if x.shape != x_hat.shape:
        raise ValueError(f"Shapes differ: x {tuple(x.shape)} vs x_hat {tuple(x_hat.shape)}.")


def _squared_errors(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    return (x.detach().cpu().double() - x_hat.detach().cpu().double()) ** 2


def psnr(x: torch.Tensor, x_hat: torch.Tensor, max_value: float = 1.0, per_image: bool = False
         ) -> float | torch.Tensor:
    """Peak signal-to-noise ratio in dB: 10 log10(max_value^2 / MSE); higher is better, identical images give inf.

    For a batch, the MSE is one mean over every pixel of every image (as skimage's peak_signal_noise_ratio on
    the stacked array); per_image=True gives each image's own PSNR instead, a tensor (N,). max_value is the
    largest possible pixel value: 1 for images in [0, 1], 255 for uint8 images.
    """
    _check_pair(x, x_hat)
    if isinstance(max_value, bool) or not isinstance(max_value, (int, float)) or not max_value > 0:
        raise ValueError(f"max_value must be a positive number (1 for [0, 1] images, 255 for uint8), got {max_value!r}.")
    largest = max(x.detach().abs().max().item(), x_hat.detach().abs().max().item()) if x.numel() else 0.0
    if largest > max_value * 1.5:  # e.g. uint8 images (0..255) with the default max_value=1
        warnings.warn(f"psnr: pixel values reach {largest:g} but max_value={max_value:g}; is max_value right "
                      "(255 for uint8 images)?", stacklevel=2)
    if not per_image:
        mse = _squared_errors(x, x_hat).mean().item()
        return math.inf if mse == 0 else 10.0 * math.log10(max_value**2 / mse)
    if x.ndim < 2:
        raise ValueError(f"per_image=True needs a batch of images (N, ...), got shape {tuple(x.shape)}.")
    mse = _squared_errors(x, x_hat).flatten(1).mean(1)  # (N,)
    return 10.0 * torch.log10(max_value**2 / mse)  # inf where an image is reproduced exactly


def knn_accuracy(
    codes_train: torch.Tensor, y_train: torch.Tensor, codes_test: torch.Tensor, y_test: torch.Tensor, k: int = 5
) -> float:
    """Test accuracy of a k-nearest-neighbour classifier fitted on the training codes."""
    return (knn_predict(codes_train, y_train, codes_test, k) == y_test.cpu()).double().mean().item()


def knn_predict(codes_train: torch.Tensor, y_train: torch.Tensor, codes_test: torch.Tensor, k: int = 5
                ) -> torch.Tensor:
    """(n_test,) the labels a k-nearest-neighbour classifier fitted on the training codes gives the test codes."""
    knn = KNeighborsClassifier(n_neighbors=k).fit(codes_train.detach().cpu().numpy(), y_train.cpu().numpy())
    return torch.from_numpy(knn.predict(codes_test.detach().cpu().numpy()))


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angles in radians between the column spaces of a (d, k) and b (d, m), smallest first.

    As scipy.linalg.subspace_angles: orthonormal bases of the column spaces (from the SVD, so a rank-deficient
    a or b counts only its rank), cosines from the SVD of Q_a^T Q_b, and for small angles the more accurate sines
    of the part of one basis the other misses. There are min(rank a, rank b) angles.
    """
    require_tensor(a=a, b=b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"Expected a (d, k) and b (d, m) with the same d, got {tuple(a.shape)} and {tuple(b.shape)}.")
    qa, qb = _orthonormal_basis(a), _orthonormal_basis(b)
    if qa.shape[1] < qb.shape[1]:
        qa, qb = qb, qa  # the residual below is the smaller basis minus its projection on the larger
    overlap = qa.T @ qb  # (r_a, r_b)
    cosines = torch.linalg.svdvals(overlap).clamp(-1.0, 1.0)  # descending: ascending angles
    sines = torch.linalg.svdvals(qb - qa @ overlap).clamp(-1.0, 1.0).flip(0)  # ascending, the same angles
    return torch.where(cosines**2 >= 0.5, torch.arcsin(sines), torch.arccos(cosines))


def _orthonormal_basis(m: torch.Tensor) -> torch.Tensor:
    """(d, rank) orthonormal columns spanning m's columns, like scipy.linalg.orth."""
    u, s, _ = torch.linalg.svd(m.detach().cpu().double(), full_matrices=False)
    if s.numel() == 0:
        return u[:, :0]
    tolerance = max(m.shape) * s.max() * torch.finfo(torch.float64).eps
    return u[:, : int((s > tolerance).sum())]


@torch.no_grad()
def classification_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of inputs whose highest class score (the model's logits, computed on its device) equals the label."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}.")
    device = next(model.parameters()).device
    predictions = model(x.to(device)).argmax(dim=1).cpu()  # (n,)
    return (predictions == y.cpu()).double().mean().item()
