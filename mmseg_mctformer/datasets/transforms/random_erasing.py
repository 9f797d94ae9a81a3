"""Random erasing as timm applies it after normalisation, written for an unnormalised image."""
import math
from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class TimmRandomErasing(BaseTransform):
    """timm's ``RandomErasing`` (0.4.12; "Random Erasing Data Augmentation", Zhong et al.,
    https://arxiv.org/abs/1708.04896) in its ``'pixel'`` mode, before the data preprocessor.

    timm erases the normalised image: with probability ``erase_prob``, up to 10 attempts draw an
    area fraction ``U(min_area, max_area)`` and an aspect ratio ``exp(U(log a, -log a))``
    (``a = min_aspect``), ``h = round(sqrt(area * aspect))``, ``w = round(sqrt(area / aspect))``;
    the first box with ``h < H`` and ``w < W`` is placed uniformly and filled with per-pixel
    ``N(0, 1)`` noise; when no attempt fits, nothing is erased. Here the image is not yet
    normalised, so the fill is ``mean + std * N(0, 1)`` per channel, which the data
    preprocessor's ``(x - mean) / std`` turns into the same unclipped ``N(0, 1)``; the image is
    therefore returned as float32, erased or not (one dtype for a batch).
    ``mmpretrain.RandomErasing`` differs: its fill is clipped to the pixel range (in normalised
    units about [-2.1, 2.6]) and a box that does not fit is clamped to the image.

    Required keys: ``img`` (H, W, 3). Modified keys: ``img`` (float32).

    Args:
        erase_prob (float): Probability of erasing an image (timm's ``--reprob``). Default: 0.25.
        min_area (float): Smallest box area over the image area. Default: 0.02.
        max_area (float): Largest box area over the image area. Default: 1 / 3.
        min_aspect (float): Smallest aspect ratio (the largest is its inverse). Default: 0.3.
        max_count (int): Boxes an image, drawn in 1..max_count, each of area / count (timm's
            ``--recount``). Default: 1.
        mean (Sequence[float]): Per-channel mean of the data preprocessor, in the channel order
            of the pipeline's image (BGR after ``LoadImageFromFile``).
            Default: (103.53, 116.28, 123.675).
        std (Sequence[float]): Per-channel std, same order. Default: (57.375, 57.12, 58.395).
    """

    def __init__(self,
                 erase_prob: float = 0.25,
                 min_area: float = 0.02,
                 max_area: float = 1 / 3,
                 min_aspect: float = 0.3,
                 max_count: int = 1,
                 mean: Sequence[float] = (103.53, 116.28, 123.675),
                 std: Sequence[float] = (57.375, 57.12, 58.395)):
        if not 0 <= erase_prob <= 1:
            raise ValueError(f'TimmRandomErasing: erase_prob={erase_prob}, expected a '
                             'probability in [0, 1]')
        if not 0 < min_area <= max_area <= 1:
            raise ValueError(f'TimmRandomErasing: min_area={min_area}, max_area={max_area}; '
                             'expected 0 < min_area <= max_area <= 1')
        if not 0 < min_aspect <= 1 or max_count < 1:
            raise ValueError(f'TimmRandomErasing: min_aspect={min_aspect}, max_count={max_count}'
                             '; expected 0 < min_aspect <= 1 and max_count >= 1')
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'TimmRandomErasing: mean={mean}, std={std}; expected 3 values '
                             'each (one a channel)')
        self.erase_prob = erase_prob
        self.min_area = min_area
        self.max_area = max_area
        self.log_aspect = (math.log(min_aspect), -math.log(min_aspect))
        self.max_count = int(max_count)
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)

    def _box(self, img_h: int, img_w: int, count: int) -> Optional[tuple]:
        """(top, left, h, w) of the first of 10 attempts that fits, or None."""
        area = img_h * img_w
        for _ in range(10):
            target = np.random.uniform(self.min_area, self.max_area) * area / count
            aspect = math.exp(np.random.uniform(*self.log_aspect))
            h = int(round(math.sqrt(target * aspect)))
            w = int(round(math.sqrt(target / aspect)))
            if w < img_w and h < img_h:
                return (np.random.randint(0, img_h - h + 1), np.random.randint(0, img_w - w + 1),
                        h, w)
        return None

    def transform(self, results: dict) -> dict:
        img = results['img'].astype(np.float32)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'TimmRandomErasing: img of {results.get("img_path", "?")} has shape '
                             f'{img.shape}, expected (H, W, 3)')
        if np.random.rand() < self.erase_prob:
            count = np.random.randint(1, self.max_count + 1)
            for _ in range(count):
                box = self._box(img.shape[0], img.shape[1], count)
                if box is not None:
                    top, left, h, w = box
                    noise = np.random.standard_normal((h, w, 3)).astype(np.float32)
                    img[top:top + h, left:left + w] = self.mean + self.std * noise
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(erase_prob={self.erase_prob}, min_area={self.min_area}, '
                f'max_area={self.max_area}, log_aspect={self.log_aspect}, '
                f'max_count={self.max_count})')
