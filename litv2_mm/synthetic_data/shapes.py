"""Filled shapes on textured backgrounds, shared by the COCO-style and ImageNet-style sets."""
import math
from typing import NamedTuple, Sequence, Union

import cv2
import numpy as np

from .common import hsv_to_bgr, rasterise, smooth_noise, stripes

SHAPE_CLASSES = ('circle', 'rectangle', 'triangle', 'star')
"""The shape kinds; shape ``i`` belongs to category index ``i`` of the 4-class sets."""

# Object side as a fraction of the shorter image side, occlusion limits.
_SHAPE_SIZE_RANGE = (0.12, 0.5)
_MIN_VISIBLE_FRACTION = 0.3
_PLACEMENT_TRIES = 20
_MIN_HUE_DISTANCE = 0.1


class Shape(NamedTuple):
    category: int            # category index; drawn as SHAPE_CLASSES[category % 4]
    centre: np.ndarray       # (2,) float (x, y)
    size: float              # extent in pixels
    hue: float
    mask: np.ndarray         # (h, w) bool, the whole shape
    visible: np.ndarray      # (h, w) bool, the part not covered by later shapes


def shape_polygon(rng: np.random.Generator, kind: int, centre: np.ndarray,
                  size: float) -> np.ndarray:
    """(N, 2) float (x, y) vertices of shape ``SHAPE_CLASSES[kind]`` of extent ~size around
    centre."""
    name = SHAPE_CLASSES[kind]
    radius = size / 2
    angle = rng.uniform(0, 2 * math.pi)
    if name == 'rectangle':
        aspect = rng.uniform(0.45, 1.0)
        corners = np.array([[-1, -aspect], [1, -aspect], [1, aspect], [-1, aspect]]) * radius
        rotation = np.array([[math.cos(angle), -math.sin(angle)],
                             [math.sin(angle), math.cos(angle)]])
        return centre + corners @ rotation.T
    if name == 'circle':
        angles = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        radii = np.full(48, radius)
    elif name == 'triangle':
        angles = angle + np.arange(3) * 2 * math.pi / 3 + rng.uniform(-0.25, 0.25, 3)
        radii = radius * rng.uniform(0.85, 1.0, 3)
    else:  # star
        angles = angle + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, radius, radius * rng.uniform(0.38, 0.5))
    return centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * radii[:, None]


def _has_hole(mask: np.ndarray) -> bool:
    _, hierarchy = cv2.findContours(mask.view(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0, :, 3] >= 0).any())


def _keeps_visible(visible: np.ndarray, full_area: Union[float, np.integer]) -> bool:
    """True if an occluded shape keeps enough area and no holes (polygons cannot hold holes)."""
    return visible.sum() >= _MIN_VISIBLE_FRACTION * full_area and not _has_hole(visible)


def _sample_centre(rng: np.random.Generator, h: int, w: int, size: float,
                   placed: list[Shape]) -> np.ndarray:
    """(2,) float (x, y); half the time next to an earlier shape so that shapes overlap."""
    if placed and rng.random() < 0.5:
        other = placed[rng.integers(len(placed))]
        distance = rng.uniform(0.35, 0.8) * (other.size + size) / 2
        direction = rng.uniform(0, 2 * math.pi)
        centre = other.centre + distance * np.array([math.cos(direction), math.sin(direction)])
    else:
        centre = rng.uniform([0, 0], [w, h])
    return np.clip(centre, size / 2, [w - size / 2, h - size / 2])


def _distinct_hue(rng: np.random.Generator, hues: Sequence[float]) -> float:
    """A hue in [0, 1) at least _MIN_HUE_DISTANCE (circularly) from the given ones, if found."""
    for _ in range(10):
        hue = rng.uniform()
        if all(min(abs(hue - other), 1 - abs(hue - other)) >= _MIN_HUE_DISTANCE for other in hues):
            break
    return hue


def place_shapes(rng: np.random.Generator, h: int, w: int, num_categories: int) -> list[Shape]:
    """1-4 shapes in drawing order, each of a random category index below num_categories;
    later shapes may cover at most 70% of earlier ones."""
    side = min(h, w)
    placed = []
    for _ in range(rng.integers(1, 5)):
        category = int(rng.integers(num_categories))
        hue = _distinct_hue(rng, [shape.hue for shape in placed])
        for _ in range(_PLACEMENT_TRIES):
            size = side * math.exp(rng.uniform(*np.log(_SHAPE_SIZE_RANGE)))
            centre = _sample_centre(rng, h, w, size, placed)
            polygon = shape_polygon(rng, category % len(SHAPE_CLASSES), centre, size)
            mask = rasterise(polygon, h, w)
            covered = [shape.visible & ~mask for shape in placed]
            if all(_keeps_visible(visible, shape.mask.sum())
                   for visible, shape in zip(covered, placed)):
                placed = [shape._replace(visible=visible)
                          for shape, visible in zip(placed, covered)]
                placed.append(Shape(category, centre, size, hue, mask, mask))
                break
    return placed


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) float32 BGR: two muted colours blended by smooth noise, stripes, gradient."""
    hue = rng.uniform()
    colours = [hsv_to_bgr(hue + rng.uniform(-0.15, 0.15), rng.uniform(0, 0.35),
                          rng.uniform(0.3, 0.8))
               for _ in range(2)]
    blend = np.clip((smooth_noise(rng, h, w, int(rng.integers(2, 7))) + 1) / 2, 0, 1)[..., None]
    image = colours[0] * (1 - blend) + colours[1] * blend
    if rng.random() < 0.6:
        period = (4, max(8, min(h, w) / 6))
        image += stripes(rng, h, w, (0, math.pi), period)[..., None] * rng.uniform(-30, 30, 3)
    if rng.random() < 0.5:  # a quarter of a very long wave: a smooth colour gradient
        ramp = stripes(rng, h, w, (0, 2 * math.pi), (4 * max(h, w), 4 * max(h, w)))
        image += ramp[..., None] * rng.uniform(-40, 40, 3)
    return image.astype(np.float32)


def fill_shape(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, hue: float) -> None:
    """Paint mask ((h, w) bool) of a float image with a vivid, lightly textured colour, in place."""
    h, w = mask.shape
    colour = hsv_to_bgr(hue, rng.uniform(0.55, 1.0), rng.uniform(0.55, 1.0))
    texture = colour + smooth_noise(rng, h, w, 4)[..., None] * rng.uniform(5, 20)
    image[mask] = texture[mask]
