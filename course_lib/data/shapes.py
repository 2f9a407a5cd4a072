"""Captioned synthetic scenes: one or two coloured shapes on black, drawn in a blink, no downloads (lectures 4-6).

    scenes = make_scenes(1000, seed=0)                        # images (1000, 3, 32, 32) in [0, 1]
    scenes.captions[0]                                         # 'a small red circle left of a large blue square'
    scenes.objects[0][0]                                       # SceneObject(colour='red', shape='circle', ...)
    train = make_scenes(1000, exclude={("purple", "triangle")})  # no purple triangle anywhere
    zero_shot = make_scenes(100, n_objects=1, only={("purple", "triangle")})  # nothing else

Every object fills its bounding box (a circle's diameter, a square's side, a triangle's base and height are
the box's width). The objects of a scene never overlap and have different colours, so a colour word names
exactly one object; a two-object caption's relation ('left of', 'right of', 'above', 'below') is true of the
boxes: the first box lies wholly on that side of the second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

import numpy as np
import torch

COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
RELATIONS = ("left of", "right of", "above", "below")  # of the first object, relative to the second
COLOUR_RGB = {
    "red": (0.90, 0.10, 0.10), "green": (0.10, 0.75, 0.20), "blue": (0.15, 0.35, 1.00),
    "yellow": (0.95, 0.90, 0.10), "purple": (0.60, 0.20, 0.85), "orange": (1.00, 0.55, 0.05),
}
HALF_EXTENT = {"small": 0.12, "large": 0.20}  # half the box's width, as a fraction of the image size
MARGIN, GAP = 1.0, 1.0  # pixels between an object and the border, and between two objects' boxes
MIN_IMAGE_SIZE = 16

Combo = tuple[str, str]  # (colour, shape), e.g. ('purple', 'triangle')


class SceneObject(NamedTuple):
    """One shape in a scene: its attributes, centre (x right, y down, in pixels) and box (x0, y0, x1, y1)."""

    colour: str
    shape: str
    size: str
    x: float
    y: float
    box: tuple[float, float, float, float]

    @property
    def name(self) -> str:
        """'red circle': the (colour, shape) class a lecture may classify."""
        return f"{self.colour} {self.shape}"

    def describe(self) -> str:
        """'a small red circle'."""
        return f"a {self.size} {self.colour} {self.shape}"


class Scene(NamedTuple):
    """One scene: image (3, H, W), caption and its objects."""

    image: torch.Tensor
    caption: str
    objects: tuple[SceneObject, ...]


@dataclass(frozen=True)
class Scenes:
    """N scenes: images, captions and the objects every caption describes; scenes[i] is a Scene, scenes[a:b] Scenes."""

    images: torch.Tensor  # (N, 3, H, W), float32 in [0, 1]
    captions: tuple[str, ...]
    objects: tuple[tuple[SceneObject, ...], ...]  # one or two objects per scene

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray | torch.Tensor) -> Scene | Scenes:
        if isinstance(index, (int, np.integer)):
            i = range(len(self))[index]  # negative indices, and an IndexError past the end
            return Scene(self.images[i], self.captions[i], self.objects[i])
        return self.subset(index)

    def subset(self, index: slice | Sequence[int] | np.ndarray | torch.Tensor) -> Scenes:
        """The scenes at a slice, a list of indices or a boolean mask of length N, in that order."""
        if isinstance(index, slice):
            rows = np.arange(len(self))[index]
        else:
            index = np.asarray(index.cpu() if isinstance(index, torch.Tensor) else index)
            if index.dtype == bool:
                if index.shape != (len(self),):
                    raise ValueError(f"A boolean mask must have shape ({len(self)},), got {index.shape}.")
                index = np.flatnonzero(index)
            rows = np.arange(len(self))[index.astype(np.int64)]  # an IndexError for indices out of range
        return Scenes(self.images[torch.from_numpy(rows)], tuple(self.captions[i] for i in rows),
                      tuple(self.objects[i] for i in rows))

    @property
    def image_size(self) -> int:
        """H (= W), in pixels."""
        return self.images.shape[-1]


def caption(objects: Sequence[SceneObject], relation: str | None = None) -> str:
    """'a small red circle', or 'a small red circle left of a large blue square' for two objects and a relation."""
    if len(objects) == 1:
        return objects[0].describe()
    if len(objects) != 2 or relation not in RELATIONS:
        raise ValueError(f"Two objects need a relation in {RELATIONS}; got {len(objects)} objects, {relation!r}.")
    return f"{objects[0].describe()} {relation} {objects[1].describe()}"


def allowed_combos(exclude: Iterable[Combo] = (), only: Iterable[Combo] | None = None) -> list[Combo]:
    """The (colour, shape) pairs a split may draw: `only` (default: all), minus `exclude`, in COLOURS x SHAPES order."""
    exclude, chosen = set(map(tuple, exclude)), None if only is None else set(map(tuple, only))
    for combo in exclude | (chosen or set()):
        if len(combo) != 2 or combo[0] not in COLOURS or combo[1] not in SHAPES:
            raise ValueError(f"Unknown (colour, shape) {combo!r}: colours are {COLOURS}, shapes are {SHAPES}.")
    combos = [(c, s) for c in COLOURS for s in SHAPES if (chosen is None or (c, s) in chosen) and (c, s) not in exclude]
    if not combos:
        raise ValueError("No (colour, shape) pair is left to draw: `only` minus `exclude` is empty.")
    return combos


def make_scenes(
    n: int,
    *,
    seed: int = 0,
    image_size: int = 32,
    n_objects: int | Sequence[int] = (1, 2),
    exclude: Iterable[Combo] = (),
    only: Iterable[Combo] | None = None,
) -> Scenes:
    """n scenes of `n_objects` shapes (1, 2 or a choice of both) drawn from the allowed (colour, shape) pairs.

    The same (n, seed) gives the same scenes; another n gives other scenes (every attribute is drawn for all n at once).
    """
    counts = (n_objects,) if isinstance(n_objects, (int, np.integer)) else tuple(n_objects)
    if n < 0:
        raise ValueError(f"n must be zero or positive, got {n}.")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE} pixels for shapes to be told apart, "
                         f"got {image_size}.")
    if not counts or any(c not in (1, 2) for c in counts):
        raise ValueError(f"n_objects must be 1, 2 or a choice of them such as (1, 2), got {n_objects!r}.")
    combos = allowed_combos(exclude, only)
    if 2 in counts and len({c for c, _ in combos}) < 2:
        raise ValueError(f"Two objects need two different colours, but only {combos} may be drawn: use n_objects=1.")

    rng = np.random.default_rng(seed)
    count = rng.choice(np.array(counts), size=n)  # (n,)
    combo = _sample_combos(rng, combos, n)  # (n, 2) indices into combos
    colour = np.array([COLOURS.index(c) for c, _ in combos])[combo]  # (n, 2)
    shape = np.array([SHAPES.index(s) for _, s in combos])[combo]  # (n, 2)
    size = rng.integers(len(SIZES), size=(n, 2))  # (n, 2)
    half = np.array([HALF_EXTENT[s] for s in SIZES])[size] * image_size  # (n, 2) half-widths in pixels
    relation = rng.integers(len(RELATIONS), size=n)  # (n,)
    x, y = _place(rng, half, count, relation, image_size)  # (n, 2) each
    images = render(x, y, half, shape, colour, count, image_size)  # (n, 3, H, W)

    objects, captions = [], []
    for i in range(n):
        scene = tuple(SceneObject(COLOURS[colour[i, k]], SHAPES[shape[i, k]], SIZES[size[i, k]],
                                  float(x[i, k]), float(y[i, k]),
                                  (float(x[i, k] - half[i, k]), float(y[i, k] - half[i, k]),
                                   float(x[i, k] + half[i, k]), float(y[i, k] + half[i, k])))
                      for k in range(count[i]))
        objects.append(scene)
        captions.append(caption(scene, RELATIONS[relation[i]]))
    return Scenes(images, tuple(captions), tuple(objects))


def _sample_combos(rng: np.random.Generator, combos: list[Combo], n: int) -> np.ndarray:
    """(n, 2) indices into combos: the first uniform, the second uniform among those of another colour."""
    first = rng.integers(len(combos), size=n)
    colours = np.array([c for c, _ in combos])
    other_colour = colours[None, :] != colours[:, None]  # (k, k): may combo j join combo i?
    weights = other_colour[first].astype(float)  # (n, k)
    weights[weights.sum(1) == 0] = 1.0  # a single colour: only one-object scenes use this row
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random(n) * cumulative[:, -1]
    second = (cumulative <= u[:, None]).sum(1)
    return np.stack([first, second], axis=1)


def _place(rng: np.random.Generator, half: np.ndarray, count: np.ndarray, relation: np.ndarray,
           size: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres (n, 2) x and y: inside the image, and for two objects their boxes apart along the relation's axis."""
    n = len(count)
    free = rng.random((n, 2, 2)) * (size - 2 * MARGIN - 2 * half[:, :, None])  # (n, object, axis)
    centre = MARGIN + half[:, :, None] + free  # anywhere inside the image, one object at a time
    # Two objects: along the relation's axis, two sorted offsets in the slack left over place the pair
    # uniformly over all positions whose boxes are at least GAP apart along that axis, in the caption's order.
    slack = size - 2 * MARGIN - 2 * half.sum(1) - GAP  # (n,) >= 0 for image_size >= MIN_IMAGE_SIZE
    offsets = np.sort(rng.random((n, 2)), axis=1) * slack[:, None]  # (n, 2)
    first_is_lower = (relation == 0) | (relation == 2)  # 'left of' (smaller x) or 'above' (smaller y)
    lo_half = np.where(first_is_lower, half[:, 0], half[:, 1])
    hi_half = np.where(first_is_lower, half[:, 1], half[:, 0])
    lo = MARGIN + lo_half + offsets[:, 0]
    hi = MARGIN + 2 * lo_half + GAP + hi_half + offsets[:, 1]
    along = np.stack([np.where(first_is_lower, lo, hi), np.where(first_is_lower, hi, lo)], axis=1)  # (n, 2)
    axis = (relation >= 2).astype(int)  # 0: x ('left of', 'right of'), 1: y ('above', 'below')
    pair = count == 2
    centre[pair, :, axis[pair]] = along[pair]
    return centre[:, :, 0], centre[:, :, 1]


def render(x: np.ndarray, y: np.ndarray, half: np.ndarray, shape: np.ndarray, colour: np.ndarray,
           count: np.ndarray, size: int, chunk: int = 256) -> torch.Tensor:
    """Images (n, 3, size, size) of the objects at centres x, y (n, 2), a chunk of scenes at a time (fits in cache)."""
    present = np.arange(2)[None, :] < count[:, None]  # (n, 2): the second object of a one-object scene is absent
    rgb = torch.tensor([COLOUR_RGB[c] for c in COLOURS])[torch.from_numpy(colour)]  # (n, 2, 3)
    rgb = rgb * torch.from_numpy(present)[:, :, None]
    x, y, half, shape = (_per_object(a) for a in (x, y, half, shape))  # (n, 2, 1, 1) each
    images = torch.empty(len(count), 3, size, size)
    for i in range(0, len(count), chunk):
        part = slice(i, i + chunk)
        alpha = coverage(x[part], y[part], half[part], shape[part], size)  # (chunk, 2, H, W)
        images[part] = torch.einsum("nkhw,nkc->nchw", alpha, rgb[part])  # objects never overlap: colours add up
    return images.clamp_(0.0, 1.0)


def _per_object(a: np.ndarray) -> torch.Tensor:
    """(n, k) array -> (n, k, 1, 1) tensor (float32 or int64) that broadcasts against pixels (n, k, H, W)."""
    return torch.from_numpy(a.astype(np.float32) if a.dtype.kind == "f" else a.astype(np.int64))[:, :, None, None]


def coverage(x: torch.Tensor, y: torch.Tensor, half: torch.Tensor, shape: torch.Tensor, size: int) -> torch.Tensor:
    """The fraction of each pixel an object covers, from its signed distance (pixels; < 0 inside), blurred over 1 pixel.

    x, y, half, shape: (n, k, 1, 1) -> (n, k, size, size).
    """
    grid = torch.arange(size, dtype=torch.float32) + 0.5  # pixel centres
    dx = grid[None, None, None, :] - x  # (n, k, 1, W)
    dy = grid[None, None, :, None] - y  # (n, k, H, 1)
    circle = torch.sqrt(dx**2 + dy**2) - half  # (n, k, H, W)
    square = torch.maximum(dx.abs(), dy.abs()) - half
    # Apex (0, -half) at the top, base from (-half, half) to (half, half): inside the base and both sloping sides.
    triangle = torch.maximum(dy - half, (2 * dx.abs() - dy - half) / np.sqrt(5.0))
    distance = torch.where(shape == 0, circle, torch.where(shape == 1, square, triangle))
    return (0.5 - distance).clamp_(0.0, 1.0)
