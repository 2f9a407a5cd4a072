"""PCA from the singular value decomposition, the way lecture 1 derives it.

Centre the data X (n, d), factor it as X = U S V^T; the rows of V^T are the
principal directions, S^2 / (n - 1) the variance along each. Projecting on the
first k directions and mapping back is the best rank-k linear reconstruction.
"""

from __future__ import annotations

import torch

from course_lib.validation import require_tensor


class PCA:
    """Principal component analysis with `torch.linalg.svd` (fit / transform / inverse_transform)."""

    def __init__(self, n_components: int):
        if int(n_components) != n_components or n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {n_components!r}.")
        self.n_components = int(n_components)
        self.mean_: torch.Tensor | None = None  # (d,)
        self.components_: torch.Tensor | None = None  # (k, d), orthonormal rows
        self.explained_variance_: torch.Tensor | None = None  # (k,)
        self.explained_variance_ratio_: torch.Tensor | None = None  # (k,)

    def fit(self, x: torch.Tensor) -> "PCA":
        """Learn the mean and the top principal directions of x (n, d)."""
        require_tensor(x=x)
        if x.ndim != 2:
            raise ValueError(f"PCA expects a 2-D tensor (samples, features), got shape {tuple(x.shape)}.")
        n, d = x.shape
        if self.n_components > min(n, d):
            raise ValueError(f"n_components={self.n_components} exceeds min(samples, features)={min(n, d)}.")
        x = x.double()  # float64: the SVD of a small matrix is cheap, and exact enough to match scikit-learn
        self.mean_ = x.mean(dim=0)
        _, s, vt = torch.linalg.svd(x - self.mean_, full_matrices=False)  # s: (min(n,d),), vt: (min(n,d), d)
        variance = s**2 / (n - 1)
        k = self.n_components
        self.components_ = _fix_signs(vt[:k])
        self.explained_variance_ = variance[:k]
        self.explained_variance_ratio_ = variance[:k] / variance.sum()
        return self

    def transform(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        """Codes z = (x - mean) V_k, shape (n, k); k defaults to n_components.

        The codes are nested: the first k of them are the codes of PCA(k), so one fit serves every k.
        """
        require_tensor(x=x)
        v_k = self._components(k)  # (k, d)
        return ((x.double() - self.mean_) @ v_k.T).to(_float_dtype(x))

    def inverse_transform(self, z: torch.Tensor) -> torch.Tensor:
        """Back to pixel space: x_hat = z V_k^T + mean, shape (n, d), with k = z.shape[1]."""
        require_tensor(z=z)
        v_k = self._components(z.shape[1])
        return (z.double() @ v_k + self.mean_).to(_float_dtype(z))

    def reconstruct(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        """Project x on the first k principal directions and map it back."""
        return self.inverse_transform(self.transform(x, k))

    def _components(self, k: int | None) -> torch.Tensor:
        if self.components_ is None:
            raise RuntimeError("This PCA is not fitted yet: call .fit(x) first.")
        k = self.n_components if k is None else k
        if not 1 <= k <= self.n_components:
            raise ValueError(f"k must be between 1 and n_components={self.n_components}, got {k}.")
        return self.components_[:k]


def _fix_signs(vt: torch.Tensor) -> torch.Tensor:
    """Flip each direction so its largest-magnitude entry is positive (singular vectors are defined up to sign)."""
    biggest = vt.abs().argmax(dim=1)
    signs = torch.sign(vt[torch.arange(len(vt)), biggest])
    return vt * signs[:, None]


def _float_dtype(x: torch.Tensor) -> torch.dtype:
    """The input's dtype if it is floating point, else the default float: codes of integer pixels are not integers."""
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()
