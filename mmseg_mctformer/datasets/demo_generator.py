"""The embedded demo dataset: Fashion-MNIST objects pasted on synthetic backgrounds.

Each scene holds 1-3 objects drawn from six visually distinct Fashion-MNIST classes, each scaled to
35-60 % of the image side, tinted with a random colour (object pixel = intensity * colour) and
pasted at a random position (later objects occlude earlier ones) on a colour gradient with Gaussian
noise. The exact mask holds the visible object pixels (``class + 1``), background ``0``; a class
with fewer than ``min_pixels`` visible pixels is not labelled and its pixels are ``255`` (ignore),
so masks and image-level labels agree. Train scenes use the Fashion-MNIST train split, val scenes
the t10k split. Every scene has its own generator seeded by ``(seed, split, index)``: the output is
byte-for-byte reproducible and scene ``i`` does not depend on the number of scenes.

The output has the VOC layout read by :class:`DemoWSSSDataset`::

    out_dir/
    ├── JPEGImages/{train,val}_NNNNN.jpg       (JPEG, quality 95)
    ├── SegmentationClassAug/*.png              (palette PNG)
    ├── ImageSets/Segmentation/{train_aug,train,val}.txt
    ├── cls_labels.npy                          ({name: (6,) multi-hot float32})
    └── meta.json                               (parameters + statistics; written last)

A second object source (``source='emoji'``) replaces the Fashion-MNIST items by colour emoji of
the Debian package ``fonts-noto-color-emoji`` (Noto Color Emoji 2.042, SIL Open Font License):
six groups of eight glyphs (:data:`EMOJI_GROUPS`: fruit, animal face, vehicle, ball, plant,
building), each rendered once from the font's 109 px bitmaps and cropped to its alpha; a scene
pastes 1-3 of them (longest side 35-60 % of the image, random horizontal flip, brightness
x0.7-1.15, own colours kept), the exact mask being the visible pixels of alpha >= 128. Both splits
draw from the same glyphs (there are no other instances); the rest (backgrounds, occlusion,
``min_pixels``, seeds, layout) is as above. Class indices 0..5 keep the demo's order, so the
demo's dataset class and configs read it (``data_root`` pointed at it); the names of its classes
are ``meta.json``'s ``classes``.

Images are JPEG (quality 95, 4:4:4 chroma), as VOC and COCO, so that the demo runs the same
decoder path and configs (``img_suffix='.jpg'``). Measured on 100 scenes: mean absolute error 3.0
grey levels (2.1 on object pixels), below the background noise (sigma 4-16); 4:2:0 chroma would
double it (6.4), hence 4:4:4. About 14 kB per 112 px image.
"""
import gzip
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from PIL import Image

from .shape_generator import SHAPE_SOURCES, load_photo_bank, render_shape_scene, shape_classes
from .utils import multi_hot, visible_labels, voc_colormap

#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'
#: Fashion-MNIST label -> demo foreground index: T-shirt/top, Trouser, Dress, Sandal, Bag,
#: Ankle boot.
FASHION_MNIST_TO_DEMO = {0: 0, 1: 1, 3: 2, 5: 3, 8: 4, 9: 5}
DEMO_CLASSES = ('background', 'tshirt', 'trouser', 'dress', 'sandal', 'bag', 'ankle_boot')
DEMO_PALETTE = voc_colormap(len(DEMO_CLASSES))
IGNORE_INDEX = 255
#: Bump when the rendering changes, so that existing folders are regenerated.
GENERATOR_VERSION = 1
_SPLITS = {'train': ('train', 0), 'val': ('t10k', 1)}
#: Where Debian's ``fonts-noto-color-emoji`` installs its font (colour bitmaps at size 109).
EMOJI_FONT = '/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf'
#: The emoji source: demo class -> eight code points.
EMOJI_GROUPS = {
    'fruit': (0x1F34E, 0x1F34F, 0x1F350, 0x1F34A, 0x1F34B, 0x1F351, 0x1F352, 0x1F353),
    'animal': (0x1F436, 0x1F431, 0x1F42D, 0x1F439, 0x1F430, 0x1F98A, 0x1F43B, 0x1F43C),
    'vehicle': (0x1F697, 0x1F695, 0x1F699, 0x1F68C, 0x1F693, 0x1F691, 0x1F692, 0x1F690),
    'ball': (0x26BD, 0x1F3C0, 0x1F3C8, 0x26BE, 0x1F3BE, 0x1F3D0, 0x1F3C9, 0x1F3B1),
    'plant': (0x1F332, 0x1F333, 0x1F334, 0x1F335, 0x1F337, 0x1F33B, 0x1F339, 0x1F340),
    'building': (0x1F3E0, 0x1F3E1, 0x1F3E2, 0x1F3E3, 0x1F3E5, 0x1F3E6, 0x1F3E8, 0x1F3EB),
}
EMOJI_CLASSES = ('background', ) + tuple(EMOJI_GROUPS)
#: Object sources: the demo's two, and the shape scenes of
#: :mod:`~mmseg_mctformer.datasets.shape_generator` (:data:`SHAPE_SOURCES`).
OBJECT_SOURCES = ('fashion-mnist', 'emoji') + tuple(SHAPE_SOURCES)


def source_classes(source: str) -> Tuple[str, ...]:
    """``('background', foreground names...)`` of an object source."""
    if source == 'emoji':
        return EMOJI_CLASSES
    if source in SHAPE_SOURCES:
        return shape_classes(source)
    return DEMO_CLASSES


def _read_idx(path: str, magic: int) -> np.ndarray:
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Fashion-MNIST file {path} is missing; install the Debian package '
            '`dataset-fashion-mnist` (apt-get install dataset-fashion-mnist, or `make '
            'fashion-mnist`) or pass fashion_mnist_dir')
    with gzip.open(path, 'rb') as f:
        data = f.read()
    ndim = magic & 0xFF
    head = np.frombuffer(data, dtype='>u4', count=1 + ndim)
    if int(head[0]) != magic:
        raise ValueError(f'Fashion-MNIST file {path}: IDX magic number {int(head[0])}, '
                         f'expected {magic}')
    shape = tuple(int(n) for n in head[1:])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 * (1 + ndim))
    if arr.size != int(np.prod(shape)):
        raise ValueError(f'Fashion-MNIST file {path}: {arr.size} values, expected shape {shape}')
    return arr.reshape(shape)


def load_fashion_mnist(split: str, root: str = FASHION_MNIST_DIR) -> Tuple[np.ndarray, np.ndarray]:
    """Read one Fashion-MNIST split from the gzipped IDX files.

    Args:
        split (str): ``'train'`` or ``'t10k'``.
        root (str): Folder of ``{split}-{images-idx3,labels-idx1}-ubyte.gz``.
            Default: :data:`FASHION_MNIST_DIR`.

    Returns:
        tuple[np.ndarray, np.ndarray]: Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` uint8.
    """
    if split not in ('train', 't10k'):
        raise ValueError(f'Fashion-MNIST split must be "train" or "t10k", got {split!r}')
    images = _read_idx(osp.join(root, f'{split}-images-idx3-ubyte.gz'), 2051)
    labels = _read_idx(osp.join(root, f'{split}-labels-idx1-ubyte.gz'), 2049)
    if len(images) != len(labels):
        raise ValueError(f'Fashion-MNIST {split} in {root}: {len(images)} images but '
                         f'{len(labels)} labels')
    return images, labels


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A linear gradient between two random colours plus Gaussian noise, ``(S, S, 3)`` float."""
    c0, c1 = rng.uniform(0, 255, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    t = np.cos(angle) * xx + np.sin(angle) * yy
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    img = c0 + t[..., None] * (c1 - c0)
    return img + rng.normal(0, rng.uniform(4, 16), size=img.shape)


def render_scene(rng: np.random.Generator,
                 objects: Dict[int, np.ndarray],
                 img_size: int = 112,
                 max_objects: int = 3,
                 scale_range: Tuple[float, float] = (0.35, 0.6),
                 threshold: int = 32,
                 min_pixels: int = 20) -> Tuple[np.ndarray, np.ndarray, List[int]]:
    """Render one scene.

    Args:
        rng (np.random.Generator): Source of randomness.
        objects (dict[int, np.ndarray]): Demo foreground index -> Fashion-MNIST images
            ``(N_c, 28, 28)`` uint8 of that class.
        img_size (int): Side of the square scene. Default: 112.
        max_objects (int): Scenes hold ``1..max_objects`` objects. Default: 3.
        scale_range (tuple[float, float]): Object side as a fraction of ``img_size``.
            Default: ``(0.35, 0.6)``.
        threshold (int): An object pixel is one whose resized intensity exceeds this. Default: 32.
        min_pixels (int): Fewest visible pixels for a class to be labelled. Default: 20.

    Returns:
        tuple: ``img`` ``(S, S, 3)`` uint8 RGB, ``mask`` ``(S, S)`` uint8 (0 background,
        ``c + 1`` visible pixels of class ``c``, 255 ignore) and ``labels`` (sorted indices).
    """
    classes = sorted(objects)
    while True:
        img = _background(rng, img_size)
        mask = np.zeros((img_size, img_size), dtype=np.uint8)
        for _ in range(int(rng.integers(1, max_objects + 1))):
            cls = classes[int(rng.integers(len(classes)))]
            pool = objects[cls]
            item = pool[int(rng.integers(len(pool)))]
            side = int(round(rng.uniform(*scale_range) * img_size))
            item = cv2.resize(item, (side, side), interpolation=cv2.INTER_LINEAR)
            colour = rng.uniform(40, 255, size=3)
            y, x = rng.integers(0, img_size - side + 1, size=2)
            obj = item > threshold
            patch = img[y:y + side, x:x + side]
            patch[obj] = (item[obj, None] / 255.0) * colour
            mask[y:y + side, x:x + side][obj] = cls + 1
        labels = visible_labels(mask, classes, min_pixels, IGNORE_INDEX)
        if labels:
            return np.clip(np.rint(img), 0, 255).astype(np.uint8), mask, labels


def load_emoji_objects(font_path: str = EMOJI_FONT) -> Dict[int, List[np.ndarray]]:
    """Render the glyphs of :data:`EMOJI_GROUPS` once each.

    Returns:
        dict[int, list[np.ndarray]]: Demo foreground index -> RGBA images ``(h, w, 4)`` uint8,
        cropped to the glyph's alpha.
    """
    from PIL import ImageDraw, ImageFont
    if not osp.isfile(font_path):
        raise FileNotFoundError(f'emoji font {font_path} is missing; install the Debian package '
                                '`fonts-noto-color-emoji` or pass emoji_font')
    font = ImageFont.truetype(font_path, 109)  # the only size of the colour bitmaps
    objects = {}
    for cls, codes in enumerate(EMOJI_GROUPS.values()):
        objects[cls] = []
        for code in codes:
            canvas = Image.new('RGBA', (160, 160), (0, 0, 0, 0))
            ImageDraw.Draw(canvas).text((0, 0), chr(code), font=font, embedded_color=True)
            box = canvas.getchannel('A').point(lambda a: 255 if a >= 128 else 0).getbbox()
            if box is None:
                raise ValueError(f'{font_path} renders U+{code:04X} as an empty glyph')
            objects[cls].append(np.array(canvas.crop(box)))
    return objects


def render_rgba_scene(rng: np.random.Generator,
                      objects: Dict[int, List[np.ndarray]],
                      img_size: int = 112,
                      max_objects: int = 3,
                      scale_range: Tuple[float, float] = (0.35, 0.6),
                      min_pixels: int = 20) -> Tuple[np.ndarray, np.ndarray, List[int]]:
    """Render one scene of RGBA objects (the emoji source); see :func:`render_scene`.

    Each object's longest side is ``scale_range`` of ``img_size``; it is flipped horizontally
    with probability 0.5 and its colours scaled by U(0.7, 1.15); its pixels of alpha >= 128 are
    pasted and labelled.
    """
    classes = sorted(objects)
    while True:
        img = _background(rng, img_size)
        mask = np.zeros((img_size, img_size), dtype=np.uint8)
        for _ in range(int(rng.integers(1, max_objects + 1))):
            cls = classes[int(rng.integers(len(classes)))]
            pool = objects[cls]
            item = pool[int(rng.integers(len(pool)))]
            side = int(round(rng.uniform(*scale_range) * img_size))
            h, w = item.shape[:2]
            size = (max(1, round(w * side / max(h, w))), max(1, round(h * side / max(h, w))))
            item = cv2.resize(item, size, interpolation=cv2.INTER_AREA)
            if rng.uniform() < 0.5:
                item = item[:, ::-1]
            gain = rng.uniform(0.7, 1.15)
            h, w = item.shape[:2]
            y = int(rng.integers(0, img_size - h + 1))
            x = int(rng.integers(0, img_size - w + 1))
            obj = item[..., 3] >= 128
            img[y:y + h, x:x + w][obj] = item[..., :3][obj] * gain
            mask[y:y + h, x:x + w][obj] = cls + 1
        labels = visible_labels(mask, classes, min_pixels, IGNORE_INDEX)
        if labels:
            return np.clip(np.rint(img), 0, 255).astype(np.uint8), mask, labels


def _save_mask(path: str, mask: np.ndarray, num_classes: int = len(DEMO_CLASSES)) -> None:
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[:num_classes] = voc_colormap(num_classes)
    palette[IGNORE_INDEX] = (224, 224, 192)
    img = Image.fromarray(mask, mode='P')
    img.putpalette(palette.ravel().tolist())
    img.save(path)


def _params(num_train: int, num_val: int, img_size: int, seed: int,
            source: str = 'fashion-mnist') -> dict:
    params = dict(
        generator='mmseg_mctformer.datasets.demo_generator',
        version=GENERATOR_VERSION,
        num_train=int(num_train),
        num_val=int(num_val),
        img_size=int(img_size),
        seed=int(seed))
    if source != 'fashion-mnist':  # the Fashion-MNIST folders of earlier versions stay valid
        params['source'] = source
    return params


def read_meta(out_dir: str, strict: bool = False) -> Optional[dict]:
    """The ``meta.json`` of a generated folder, or None when there is none.

    An unreadable file gives None (the generator then writes the folder anew), or with
    ``strict=True`` a ValueError naming the file.
    """
    path = osp.join(out_dir, 'meta.json')
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        if strict:
            raise ValueError(f'cannot read {path}: {err}') from err
        return None


def _write_split(root: str, split: str, num: int, seed: int, img_size: int,
                 fashion_mnist_dir: str, table: dict, stats: dict, source: str = 'fashion-mnist',
                 emoji_font: str = EMOJI_FONT) -> List[str]:
    fm_split, split_id = _SPLITS[split]
    class_names = source_classes(source)
    if source == 'emoji':
        objects, render = load_emoji_objects(emoji_font), render_rgba_scene
    elif source in SHAPE_SOURCES:
        spec = SHAPE_SOURCES[source]
        bank = load_photo_bank() if spec['background'] == 'photo' else None
        objects = class_names[1:]

        def render(rng, shapes, size):
            return render_shape_scene(rng, shapes, size, max_objects=spec['max_objects'],
                                      scale_range=spec['scale_range'], photo_bank=bank)
    else:
        images, labels = load_fashion_mnist(fm_split, fashion_mnist_dir)
        objects = {demo: images[labels == fm] for fm, demo in FASHION_MNIST_TO_DEMO.items()}
        render = render_scene
    names = []
    for i in range(num):
        rng = np.random.default_rng([seed, split_id, i])
        img, mask, img_labels = render(rng, objects, img_size)
        name = f'{split}_{i:05d}'
        ok = cv2.imwrite(
            osp.join(root, 'JPEGImages', name + '.jpg'), img[..., ::-1],
            [cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
             cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
        if not ok:
            raise OSError(f'could not write {name}.jpg under {root}')
        _save_mask(osp.join(root, 'SegmentationClassAug', name + '.png'), mask, len(class_names))
        table[name] = multi_hot(img_labels, len(class_names) - 1)
        stats['images'] += 1
        stats['labels'] += len(img_labels)
        for c in img_labels:
            stats['class_images'][class_names[c + 1]] += 1
        names.append(name)
    return names


def generate_demo_dataset(out_dir: str,
                          num_train: int = 2000,
                          num_val: int = 300,
                          img_size: int = 112,
                          seed: int = 0,
                          fashion_mnist_dir: str = FASHION_MNIST_DIR,
                          force: bool = False,
                          source: str = 'fashion-mnist',
                          emoji_font: str = EMOJI_FONT) -> dict:
    """Write the demo dataset to ``out_dir`` (atomically), unless it is already there.

    The folder is built in a temporary sibling and renamed into place, ``meta.json`` last. An
    existing folder whose ``meta.json`` holds the same parameters is kept as is; one generated
    with other parameters is replaced. A non-empty folder without ``meta.json`` is not ours and
    is never overwritten.

    Args:
        out_dir (str): Output folder.
        num_train (int): Number of train scenes (``train.txt`` == ``train_aug.txt``).
            Default: 2000.
        num_val (int): Number of val scenes. Default: 300.
        img_size (int): Side of the square scenes in pixels. Default: 112.
        seed (int): Seed of the generators. Default: 0.
        fashion_mnist_dir (str): Folder of the Fashion-MNIST IDX files.
            Default: :data:`FASHION_MNIST_DIR`.
        force (bool): Regenerate even when the folder is complete. Default: False.
        source (str): Object images: ``'fashion-mnist'`` or ``'emoji'`` (see the module
            docstring), or a shape source of :data:`OBJECT_SOURCES` (``'shapes'``,
            ``'shapes-photo'``, ``'shapes-small'``, ``'shapes-10'``:
            :mod:`~mmseg_mctformer.datasets.shape_generator`). Default: ``'fashion-mnist'``.
        emoji_font (str): The Noto Color Emoji font of ``source='emoji'``.
            Default: :data:`EMOJI_FONT`.

    Returns:
        dict: The content of ``meta.json`` (parameters, ``generated`` True if written by this
        call, and per-split statistics).
    """
    if num_train < 1 or num_val < 0:
        raise ValueError(f'num_train must be >= 1 and num_val >= 0, got {num_train}, {num_val}')
    if img_size < 32:
        raise ValueError(f'img_size must be >= 32 pixels, got {img_size}')
    if source not in OBJECT_SOURCES:
        raise ValueError(f'source must be one of {OBJECT_SOURCES}, got {source!r}')
    out_dir = osp.abspath(out_dir)
    params = _params(num_train, num_val, img_size, seed, source)
    meta = read_meta(out_dir)
    if osp.exists(out_dir):
        if meta is None and (not osp.isdir(out_dir) or os.listdir(out_dir)):
            raise FileExistsError(f'{out_dir} exists but has no demo meta.json; refusing to '
                                  'overwrite it (remove it or choose another OUT_DIR)')
        same = meta is not None and meta.get('source', 'fashion-mnist') == source and all(
            meta.get(k) == v for k, v in params.items())
        if same and not force:
            return dict(meta, generated=False)

    parent = osp.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.' + osp.basename(out_dir) + '.tmp-', dir=parent)
    try:
        os.chmod(tmp, 0o755)
        for sub in ('JPEGImages', 'SegmentationClassAug', 'ImageSets/Segmentation'):
            os.makedirs(osp.join(tmp, sub))
        table, splits = {}, {}
        for split, num in (('train', num_train), ('val', num_val)):
            class_names = source_classes(source)
            stats = dict(images=0, labels=0, class_images={c: 0 for c in class_names[1:]})
            names = _write_split(tmp, split, num, seed, img_size, fashion_mnist_dir, table, stats,
                                 source, emoji_font)
            splits[split] = stats
            files = ('train.txt', 'train_aug.txt') if split == 'train' else ('val.txt', )
            for fname in files:
                with open(osp.join(tmp, 'ImageSets/Segmentation', fname), 'w') as f:
                    f.write(''.join(n + '\n' for n in names))
        with open(osp.join(tmp, 'cls_labels.npy'), 'wb') as f:
            np.save(f, table, allow_pickle=True)
        meta = dict(params, classes=list(class_names), splits=splits)
        with open(osp.join(tmp, 'meta.json'), 'w') as f:
            json.dump(meta, f, indent=2)
        if osp.exists(out_dir):
            old = tempfile.mkdtemp(prefix='.' + osp.basename(out_dir) + '.old-', dir=parent)
            os.rename(out_dir, osp.join(old, 'data'))
            os.rename(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dict(meta, generated=True)
