"""The test-time views of an MCTformer prediction: per scale, the resized images and their flips.

:class:`ScaleFlipViews` turns a batch of same-size images into the inputs of the forwards of one
prediction (``test_cfg``: ``scales``, ``flip``, ``resize_mode``, ``max_tokens``); the segmentor
runs each (:meth:`~mmseg_mctformer.models.MCTformer.predict`) and the localisation head sums their
maps (:meth:`~mmseg_mctformer.models.heads.MCTLocalizationHead.predict_by_views`). The meaning of
every key is documented on :class:`~mmseg_mctformer.models.MCTformer`.
"""
import logging
import math
from typing import Iterator, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.utils import SampleList
from torch import Tensor


class ScaleFlipViews:
    """The multi-scale, flipped inputs of the forwards of one prediction.

    ``views(imgs)`` yields, per scale of ``test_cfg.scales``, the images resized as
    ``test_cfg.resize_mode`` says, with their flips batched after them (``test_cfg.flip``) and
    cropped to whole patches; :meth:`image_groups` splits a batch into same-size chunks within
    ``test_cfg.max_tokens``. Built per prediction from the segmentor's current ``test_cfg``.

    Args:
        test_cfg (dict): The segmentor's parsed ``test_cfg``: ``scales``, ``flip``,
            ``resize_mode`` and ``max_tokens``.
        patch_size (int): The token stride of the backbone.
        data_preprocessor (torch.nn.Module, optional): The segmentor's data preprocessor; its
            normalisation (``mean``, ``std``, when ``_enable_normalize``) is inverted and
            re-applied around the ``'authors'`` resize, which works on uint8 pixels.
            Default: None (no normalisation).
    """

    def __init__(self, test_cfg: dict, patch_size: int,
                 data_preprocessor: Optional[torch.nn.Module] = None) -> None:
        self.test_cfg = test_cfg
        self.patch_size = patch_size
        self.data_preprocessor = data_preprocessor

    @property
    def _normalises(self) -> bool:
        return bool(getattr(self.data_preprocessor, '_enable_normalize', False))

    def scaled_size(self, size: Sequence[int], scale: float) -> Tuple[int, int]:
        """Nearest size to ``size * scale`` divisible by the patch size (at least one patch),
        reduced (aspect ratio kept) to at most ``test_cfg.max_tokens`` patches."""
        patch = self.patch_size
        h, w = (max(1, int(math.floor(s * scale / patch + 0.5))) for s in size)
        return self.bounded_tokens(h, w, size, scale)

    def bounded_tokens(self, h: int, w: int, size: Sequence[int],
                       scale: float) -> Tuple[int, int]:
        """Pixel size of an ``h x w`` token grid, reduced (aspect ratio kept, with a warning) to
        at most ``test_cfg.max_tokens`` tokens."""
        patch = self.patch_size
        max_tokens = self.test_cfg['max_tokens']
        if max_tokens is not None and h * w > max_tokens:
            factor = math.sqrt(max_tokens / (h * w))
            new_h = max(1, int(h * factor))
            new_w = max(1, min(int(w * factor), max_tokens // new_h))
            print_log(f'MCTformer: an input of {tuple(size)} pixels at scale {scale} has '
                      f'{h}x{w}={h * w} tokens > test_cfg.max_tokens={max_tokens}; running it at '
                      f'{new_h * patch}x{new_w * patch} pixels ({new_h}x{new_w} tokens)',
                      logger='current', level=logging.WARNING)
            h, w = new_h, new_w
        return h * patch, w * patch

    def pixel_images(self, imgs: Tensor) -> np.ndarray:
        """The uint8 images behind normalised inputs: (G, 3, H, W) float -> (G, H, W, 3) uint8.

        Inverts the data preprocessor's normalisation (``x * std + mean``, when it normalises)
        and rounds; exact for images that were uint8 when normalised (the float32 round trip
        stays far below half a grey level).
        """
        pre = self.data_preprocessor
        if self._normalises:
            imgs = imgs.float() * pre.std + pre.mean
        return imgs.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def authors_resize(self, pixels: np.ndarray, scale: float, like: Tensor) -> Tensor:
        """The authors' test-time resize: PIL bicubic on uint8 to ``round(scale * W) x
        round(scale * H)``, then the data preprocessor's normalisation.

        Args:
            pixels (np.ndarray): uint8 images (G, H, W, 3) (:meth:`pixel_images`).
            scale (float): The test scale.
            like (Tensor): A tensor giving the output's device and dtype.

        Returns:
            Tensor: Normalised images (G, 3, round(scale * H), round(scale * W)), not cropped to
            the patch size (``views`` crops them after the flip); reduced to
            ``test_cfg.max_tokens`` tokens like :meth:`scaled_size`.
        """
        size = pixels.shape[1:3]
        patch = self.patch_size
        # Python's round, as theirs; at least one patch (their code fails on smaller images)
        out_h, out_w = (max(patch, round(s * scale)) for s in size)
        grid = (out_h // patch, out_w // patch)
        bounded = self.bounded_tokens(*grid, size, scale)
        if bounded != (grid[0] * patch, grid[1] * patch):  # over test_cfg.max_tokens
            out_h, out_w = bounded
        resized = np.stack([
            mmcv.imresize(img, (out_w, out_h), interpolation='bicubic', backend='pillow')
            for img in pixels])
        x = torch.from_numpy(resized).to(like.device).permute(0, 3, 1, 2).float()
        pre = self.data_preprocessor
        if self._normalises:
            x = (x - pre.mean) / pre.std
        return x.to(like.dtype)

    def __call__(self, imgs: Tensor) -> Iterator[Tensor]:
        """The input of each test scale's forward, one scale at a time.

        Args:
            imgs (Tensor): Images (G, 3, H, W) of the same size, without padding.

        Yields:
            Tensor: Per scale, (F * G, 3, h, w) images, h and w multiples of the patch size
            (F = 2 with ``test_cfg.flip``: the G originals, then their flips).
        """
        size = tuple(imgs.shape[-2:])
        flip = bool(self.test_cfg['flip'])
        authors = self.test_cfg['resize_mode'] == 'authors'
        pixels = self.pixel_images(imgs) if authors else None
        patch = self.patch_size
        for scale in self.test_cfg['scales']:
            if authors:
                x = self.authors_resize(pixels, scale, imgs)
            else:
                scaled_size = self.scaled_size(size, scale)
                x = imgs
                if scaled_size != size:
                    x = F.interpolate(imgs, scaled_size, mode='bilinear', align_corners=False)
            if flip:
                x = torch.cat([x, x.flip(-1)])  # (2G, 3, h, w): originals, then their flips
            h, w = x.shape[-2:]  # whole patches only (after the flip, as their patch embedding)
            yield x[..., :h - h % patch, :w - w % patch]

    def image_groups(self, data_samples: SampleList, inputs: Tensor
                     ) -> List[Tuple[List[int], Tuple[int, int], Tuple[int, int]]]:
        """Indices of the samples that share ``img_shape`` and ``ori_shape``, in chunks whose
        token count at the largest scale stays within ``test_cfg.max_tokens`` (at least one image
        a chunk), with those two shapes."""
        groups = {}
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            img_shape = tuple(meta.get('img_shape', inputs.shape[-2:])[:2])
            ori_shape = tuple(meta.get('ori_shape', img_shape)[:2])
            groups.setdefault((img_shape, ori_shape), []).append(i)
        max_tokens = self.test_cfg['max_tokens']
        chunks = []
        for (img_shape, ori_shape), indices in groups.items():
            step = len(indices)
            if max_tokens is not None:
                scale, patch = max(self.test_cfg['scales']), self.patch_size
                tokens = math.prod(max(1, int(math.floor(s * scale / patch + 0.5)))
                                   for s in img_shape)
                step = max(1, max_tokens // min(tokens, max_tokens))
            for k in range(0, len(indices), step):
                chunks.append((indices[k:k + step], img_shape, ori_shape))
        return chunks
