"""Generated scenes of geometric shapes on textured backgrounds (held-out kinds of demo data).

The demo's two object sources (Fashion-MNIST items, colour emoji) sit on smooth colour gradients,
where any edge is an object. The scenes here make the shape the only cue of the class and the
background as busy as the objects:

- each object is one of the shapes of :data:`SHAPES` (random rotation, aspect ratio 0.8-1.25),
  filled with a random colour modulated by its own fractal texture (x0.6-1.0), the colour drawn
  at a distance >= 80 (RGB) from the mean background under it, so that it stays visible;
- the background is a fractal (1/f^beta, beta 1.4-2.4) colour texture, as clouds, rock or
  foliage look at this size (``background='fractal'``), or a random crop of the photographs and
  hill-shaded elevation maps that matplotlib ships as sample data (``background='photo'``:
  Grace Hopper's portrait, the Jacksboro fault and topobathy elevation models), rescaled x1-3,
  flipped and its colour channels permuted.

The rest follows :func:`~mmseg_mctformer.datasets.demo_generator.render_scene`: 1..max objects,
later objects occlude earlier ones, mask = visible pixels (``class + 1``), classes with fewer than
``min_pixels`` visible pixels unlabelled (their pixels 255). Rendered at 4x and area-resized, so
edges are anti-aliased in the image while the mask is the pixels of coverage >= 0.5.
"""
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from .utils import visible_labels

#: The shapes, in class order: a source's classes are the first ``num_classes`` of them.
SHAPES = ('circle', 'square', 'triangle', 'star', 'cross', 'ring', 'hexagon', 'crescent',
          'arrow', 'heart')
IGNORE_INDEX = 255
_SUPER = 4  # supersampling factor of the shape masks


def _polygon(name: str) -> List[np.ndarray]:
    """Outline(s) of a shape in the unit square ``[-1, 1]^2``, each ``(K, 2)`` float (x, y)."""
    if name == 'square':
        return [np.array([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]])]
    if name == 'triangle':
        a = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        return [np.stack([np.cos(a), -np.sin(a)], 1)]
    if name == 'star':
        a = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return [np.stack([r * np.cos(a), r * np.sin(a)], 1)]
    if name == 'cross':
        w = 0.32
        return [np.array([[-w, -1], [w, -1], [w, -w], [1, -w], [1, w], [w, w], [w, 1], [-w, 1],
                          [-w, w], [-1, w], [-1, -w], [-w, -w]])]
    if name == 'hexagon':
        a = np.arange(6) * np.pi / 3
        return [np.stack([np.cos(a), np.sin(a)], 1) * 0.95]
    if name == 'arrow':
        return [np.array([[-1, -0.25], [0.1, -0.25], [0.1, -0.7], [1, 0], [0.1, 0.7],
                          [0.1, 0.25], [-1, 0.25]])]
    if name == 'heart':
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        x = 16 * np.sin(t)**3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return [np.stack([x, y + 2.5], 1) / 17.0]
    raise KeyError(name)


def shape_mask(rng: np.random.Generator, name: str, side: int) -> np.ndarray:
    """Coverage of one randomly rotated and stretched shape.

    Args:
        rng (np.random.Generator): Source of the rotation and aspect ratio.
        name (str): One of :data:`SHAPES`.
        side (int): Side of the square canvas in pixels.

    Returns:
        np.ndarray: ``(side, side)`` float32 coverage in ``[0, 1]`` (area-averaged 4x render).
    """
    if name not in SHAPES:
        raise ValueError(f'unknown shape {name!r}; expected one of {SHAPES}')
    big = side * _SUPER
    canvas = np.zeros((big, big), np.uint8)
    angle = rng.uniform(0, 2 * np.pi)
    aspect = np.exp(rng.uniform(np.log(0.8), np.log(1.25)))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    stretch = np.array([aspect**0.5, aspect**-0.5])
    radius = big / 2 * 0.95

    def to_pixels(points):
        points = (points * stretch) @ rot.T
        points = points / max(np.abs(points).max(), 1e-6)  # fills the canvas whatever the angle
        return np.round(points * radius + big / 2).astype(np.int32)

    if name in ('circle', 'ring', 'crescent'):
        t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
        disc = np.stack([np.cos(t), np.sin(t)], 1)
        cv2.fillPoly(canvas, [to_pixels(disc)], 255, lineType=cv2.LINE_8)
        if name != 'circle':
            # the hole of the ring; the bite of the crescent (off-centre, reaching the rim)
            hole = disc * 0.55 if name == 'ring' else disc * 0.8 + np.array([0.45, 0.0])
            inner = (hole * stretch) @ rot.T
            scale = max(np.abs((disc * stretch) @ rot.T).max(), 1e-6)
            pts = np.round(inner / scale * radius + big / 2).astype(np.int32)
            cv2.fillPoly(canvas, [pts], 0, lineType=cv2.LINE_8)
    else:
        cv2.fillPoly(canvas, [to_pixels(p) for p in _polygon(name)], 255, lineType=cv2.LINE_8)
    return cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA).astype(
        np.float32) / 255.0


def fractal_noise(rng: np.random.Generator, size: int, beta: float) -> np.ndarray:
    """A ``(size, size)`` field of 1/f^beta noise, scaled to ``[0, 1]``."""
    freq = np.sqrt(np.fft.fftfreq(size)[:, None]**2 + np.fft.rfftfreq(size)[None]**2)
    freq[0, 0] = 1.0
    spectrum = (rng.normal(size=freq.shape) + 1j * rng.normal(size=freq.shape)) / freq**(beta / 2)
    spectrum[0, 0] = 0
    field = np.fft.irfft2(spectrum, s=(size, size))
    return (field - field.min()) / max(field.max() - field.min(), 1e-8)


def fractal_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A colour texture: two fractal fields mixing three random colours, ``(S, S, 3)`` float."""
    beta = rng.uniform(1.4, 2.4)
    a, b = fractal_noise(rng, size, beta), fractal_noise(rng, size, beta)
    c0, c1, c2 = rng.uniform(0, 255, size=(3, 3))
    img = c0 + a[..., None] * (c1 - c0) + (b[..., None] - 0.5) * (c2 - c0) * 0.6
    return img + rng.normal(0, rng.uniform(2, 8), size=img.shape)


#: matplotlib's sample data used by ``background='photo'`` (file name, kind).
PHOTO_FILES = (('grace_hopper.jpg', 'image'), ('jacksboro_fault_dem.npz', 'elevation'),
               ('topobathy.npz', 'elevation'))


def _hillshade(elevation: np.ndarray) -> np.ndarray:
    """Grey relief of an elevation grid lit from the north-west, ``(H, W)`` float in [0, 1]."""
    gy, gx = np.gradient(elevation.astype(np.float64))
    scale = 4.0 / max(np.percentile(np.hypot(gx, gy), 95), 1e-6)
    nx, ny, nz = -gx * scale, -gy * scale, np.ones_like(gx)
    norm = np.sqrt(nx**2 + ny**2 + nz**2)
    light = np.array([-1.0, -1.0, 1.4]) / np.linalg.norm([-1.0, -1.0, 1.4])
    return np.clip((nx * light[0] + ny * light[1] + nz * light[2]) / norm, 0, 1)


def load_photo_bank(root: str = None) -> List[np.ndarray]:
    """The photographs of :data:`PHOTO_FILES` as RGB float images ``(H, W, 3)`` in [0, 255].

    Elevation models are hill-shaded and tinted by their height (green-brown ramp).

    Args:
        root (str, optional): Folder of the files. Default: matplotlib's ``sample_data``.
    """
    if root is None:
        import matplotlib
        root = osp.join(matplotlib.get_data_path(), 'sample_data')
    bank = []
    for name, kind in PHOTO_FILES:
        path = osp.join(root, name)
        if not osp.isfile(path):
            raise FileNotFoundError(f'photo background {path} is missing (matplotlib sample data);'
                                    ' use background="fractal" or pass photo_root')
        if kind == 'image':
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f'photo background {path} cannot be decoded')
            bank.append(img[..., ::-1].astype(np.float32))
        else:
            with np.load(path) as data:
                elevation = np.asarray(data[data.files[0]] if 'elevation' not in data.files
                                       else data['elevation'], np.float64)
            shade = _hillshade(elevation)
            height = (elevation - elevation.min()) / max(np.ptp(elevation), 1e-6)
            ramp = np.array([[60, 110, 50], [150, 130, 90], [235, 230, 220]], np.float64)
            tint = np.stack([np.interp(height, [0, 0.5, 1], ramp[:, c]) for c in range(3)], -1)
            bank.append((tint * (0.35 + 0.65 * shade[..., None])).astype(np.float32))
    return bank


def photo_texture(rng: np.random.Generator, size: int, bank: Sequence[np.ndarray]) -> np.ndarray:
    """A random crop of a bank image, ``(S, S, 3)`` float: zoom x1-3, flips, channel order."""
    src = bank[int(rng.integers(len(bank)))]
    h, w = src.shape[:2]
    crop = int(min(h, w) / rng.uniform(1.0, 3.0))
    crop = max(8, min(crop, h, w))
    y = int(rng.integers(0, h - crop + 1))
    x = int(rng.integers(0, w - crop + 1))
    img = cv2.resize(np.ascontiguousarray(src[y:y + crop, x:x + crop]), (size, size),
                     interpolation=cv2.INTER_AREA).astype(np.float64)
    if rng.uniform() < 0.5:
        img = img[:, ::-1]
    if rng.uniform() < 0.5:
        img = img[::-1]
    img = img[..., rng.permutation(3)]
    return img + rng.normal(0, 2, size=img.shape)


def render_shape_scene(rng: np.random.Generator,
                       classes: Sequence[str],
                       img_size: int = 112,
                       max_objects: int = 3,
                       scale_range: Tuple[float, float] = (0.35, 0.6),
                       min_pixels: int = 20,
                       photo_bank: Sequence[np.ndarray] = None
                       ) -> Tuple[np.ndarray, np.ndarray, List[int]]:
    """Render one scene of shapes (see the module docstring).

    Args:
        rng (np.random.Generator): Source of randomness.
        classes (Sequence[str]): Shape names of the foreground classes ``0..C-1``.
        img_size (int): Side of the square scene. Default: 112.
        max_objects (int): Scenes hold ``1..max_objects`` objects. Default: 3.
        scale_range (tuple[float, float]): Object side as a fraction of ``img_size``.
            Default: ``(0.35, 0.6)``.
        min_pixels (int): Fewest visible pixels for a class to be labelled. Default: 20.
        photo_bank (Sequence[np.ndarray], optional): Background photographs
            (:func:`load_photo_bank`); None draws fractal textures. Default: None.

    Returns:
        tuple: ``img`` ``(S, S, 3)`` uint8 RGB, ``mask`` ``(S, S)`` uint8 (0 background,
        ``c + 1`` visible pixels of class ``c``, 255 ignore) and ``labels`` (sorted indices).
    """
    while True:
        if photo_bank is None:
            img = fractal_texture(rng, img_size)
        else:
            img = photo_texture(rng, img_size, photo_bank)
        mask = np.zeros((img_size, img_size), dtype=np.uint8)
        for _ in range(int(rng.integers(1, max_objects + 1))):
            cls = int(rng.integers(len(classes)))
            side = max(8, int(round(rng.uniform(*scale_range) * img_size)))
            cover = shape_mask(rng, classes[cls], side)
            y, x = (int(v) for v in rng.integers(0, img_size - side + 1, size=2))
            patch = img[y:y + side, x:x + side]
            under = patch[cover >= 0.5].mean(0) if (cover >= 0.5).any() else patch.mean((0, 1))
            for _try in range(20):
                colour = rng.uniform(0, 255, size=3)
                if np.linalg.norm(colour - under) >= 80:
                    break
            shade = 0.6 + 0.4 * fractal_noise(rng, side, rng.uniform(1.4, 2.4))
            fill = shade[..., None] * colour
            patch[:] = patch * (1 - cover[..., None]) + fill * cover[..., None]
            mask[y:y + side, x:x + side][cover >= 0.5] = cls + 1
        labels = visible_labels(mask, range(len(classes)), min_pixels, IGNORE_INDEX)
        if labels:
            return np.clip(np.rint(img), 0, 255).astype(np.uint8), mask, labels


#: The shape sources of ``tools/make_demo_data.py --source``: number of classes, background,
#: object side range (fraction of the image side) and most objects per scene.
SHAPE_SOURCES: Dict[str, dict] = {
    'shapes': dict(num_classes=6, background='fractal', scale_range=(0.35, 0.6), max_objects=3),
    'shapes-photo': dict(num_classes=6, background='photo', scale_range=(0.35, 0.6),
                         max_objects=3),
    'shapes-small': dict(num_classes=6, background='fractal', scale_range=(0.15, 0.3),
                         max_objects=4),
    'shapes-10': dict(num_classes=10, background='fractal', scale_range=(0.3, 0.5),
                      max_objects=3),
}


def shape_classes(source: str) -> Tuple[str, ...]:
    """``('background', shape names...)`` of a shape source."""
    return ('background', ) + SHAPES[:SHAPE_SOURCES[source]['num_classes']]
