"""Transforms of the affinity stage: stage-1 maps in, affinity labels and packed maps out.

The maps are the ``{name}.npz`` files written by ``tools/make_pseudo_labels.py --save-logits``
(:class:`mmseg_mctformer.engine.hooks.PseudoLabelHook`): ``classes`` (K,) int64 foreground
indices and ``maps`` (K, H, W) float16 in [0, 1] at the original image size.
"""
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from mmengine.structures import PixelData
from mmseg.registry import TRANSFORMS

from .formatting import PackWSSSInputs


def alpha_threshold(alpha: float, tol: float = 1e-6) -> float:
    """The map value ``m`` where ``m == (1 - m) ** alpha`` (PSA's background score).

    Without a CRF, a pixel whose largest map exceeds it is foreground against the background score
    ``(1 - max) ** alpha``: alpha 1 -> 0.5, alpha 12 -> 0.147.
    """
    lo, hi = 0.0, 1.0
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if mid > (1 - mid)**alpha:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


@TRANSFORMS.register_module()
class LoadLocalizationMaps(BaseTransform):
    """Load the stage-1 maps of an image: ``{maps_dir}/{image basename}.npz``.

    Required keys: ``img_path``, ``ori_shape``. Added keys: ``loc_maps`` (C, H, W) float32 with
    the maps of the classes of the file and zeros elsewhere.

    Args:
        maps_dir (str): Folder of the ``.npz`` files.
        num_classes (int, optional): Number of foreground classes C. Default: None, which means
            ``results['num_classes']`` (set by the WSSS datasets).
    """

    def __init__(self, maps_dir: str, num_classes: Optional[int] = None) -> None:
        self.maps_dir = maps_dir
        self.num_classes = num_classes

    def transform(self, results: dict) -> dict:
        name = osp.splitext(osp.basename(results['img_path']))[0]
        path = osp.join(self.maps_dir, name + '.npz')
        if not osp.isfile(path):
            raise FileNotFoundError(f'LoadLocalizationMaps: {path} is missing (the maps of '
                                    f'{results["img_path"]}; write them with '
                                    'tools/make_pseudo_labels.py --save-logits)')
        with np.load(path) as f:
            classes, maps = f['classes'].astype(np.int64), f['maps'].astype(np.float32)
        num_classes = self.num_classes or results.get('num_classes')
        if num_classes is None:
            raise KeyError('LoadLocalizationMaps: num_classes is not set and the dataset gives '
                           'none')
        H, W = results['ori_shape'][:2]
        if maps.shape != (len(classes), H, W):
            raise ValueError(f'LoadLocalizationMaps: {path} holds maps of shape {maps.shape}, '
                             f'expected ({len(classes)}, {H}, {W}) for its {len(classes)} classes '
                             'and the image size')
        if classes.size and (classes.min() < 0 or classes.max() >= num_classes):
            raise ValueError(f'LoadLocalizationMaps: {path} has classes {classes.tolist()} '
                             f'outside 0..{num_classes - 1}')
        dense = np.zeros((num_classes, H, W), dtype=np.float32)
        dense[classes] = maps
        results['loc_maps'] = dense
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(maps_dir={self.maps_dir!r})'


@TRANSFORMS.register_module()
class GenerateAffinityLabel(BaseTransform):
    """Affinity labels from the stage-1 maps: confident foreground, confident background, rest
    ignored (PSA, Sec. 3.2).

    With ``m`` the largest map of a pixel, two background scores ``(1 - m) ** low_alpha`` (strong)
    and ``(1 - m) ** high_alpha`` (weak) compete with the class maps: a pixel is confident
    foreground (label ``c + 1`` of its best class) when a class beats the strong background, and
    confident background (0) when the weak background beats every class; all others get
    ``ignore_index``. Without a CRF this is two thresholds on ``m``: foreground above
    ``alpha_threshold(low_alpha)`` (0.5 for alpha 1), background below
    ``alpha_threshold(high_alpha)`` (0.147 for alpha 12). With ``crf`` (and ``pydensecrf``
    installed) both score stacks are first refined by a dense CRF on the image, as the authors'
    recipe; without ``pydensecrf`` the CRF is skipped with a warning (thresholds only).

    Required keys: ``loc_maps`` (C, H, W), ``img`` when ``crf`` is used. Added keys:
    ``gt_seg_map`` (H, W) uint8 (replacing a loaded GT mask), appended to ``seg_fields``.

    Args:
        low_alpha (float): Power of the strong background score. Default: 1 (MCTformer's PSA
            recipe).
        high_alpha (float): Power of the weak background score. Default: 12.
        crf (dict, optional): Dense-CRF settings (overrides of
            :data:`mmseg_mctformer.models.utils.crf.DEFAULT_CRF_CFG`; ``dict()`` for the defaults).
            Default: None (no CRF).
        ignore_index (int): Label of the unconfident pixels. Default: 255.
    """

    def __init__(self, low_alpha: float = 1.0, high_alpha: float = 12.0,
                 crf: Optional[dict] = None, ignore_index: int = 255) -> None:
        if not 0 < low_alpha < high_alpha:
            raise ValueError(f'GenerateAffinityLabel: need 0 < low_alpha < high_alpha, got '
                             f'low_alpha={low_alpha}, high_alpha={high_alpha}')
        self.low_alpha = low_alpha
        self.high_alpha = high_alpha
        self.crf = crf
        self.ignore_index = ignore_index
        # the engine package imports the datasets: import its CRF helpers here
        from ...models.utils.crf import CRF_MISSING_MSG, crf_available
        self._crf_on = crf is not None and crf_available()
        if crf is not None and not self._crf_on:
            print_log(f'GenerateAffinityLabel: {CRF_MISSING_MSG}', logger='current', level=30)

    def _argmax(self, scores: np.ndarray, img: Optional[np.ndarray]) -> np.ndarray:
        if self._crf_on:
            from ...models.utils.crf import DEFAULT_CRF_CFG, dense_crf
            probs = scores / np.maximum(scores.sum(0, keepdims=True), 1e-5)
            rgb = np.ascontiguousarray(img[..., ::-1])  # mmcv loads BGR
            scores = dense_crf(rgb, probs, **dict(DEFAULT_CRF_CFG, **self.crf))
        return scores.argmax(0)

    def transform(self, results: dict) -> dict:
        maps = results['loc_maps']  # (C, H, W)
        kept = [c for c in range(maps.shape[0]) if maps[c].max() > 0]
        fg = maps[kept]
        peak = fg.max(0) if kept else np.zeros(maps.shape[1:], np.float32)
        img = results.get('img') if self._crf_on else None
        lut = np.array([0] + [c + 1 for c in kept], dtype=np.uint8)
        low = self._argmax(np.concatenate([(1 - peak)[None]**self.low_alpha, fg]), img)
        high = self._argmax(np.concatenate([(1 - peak)[None]**self.high_alpha, fg]), img)
        label = np.full(peak.shape, self.ignore_index, dtype=np.uint8)
        label[high == 0] = 0
        label[low > 0] = lut[low[low > 0]]
        results['gt_seg_map'] = label
        if 'gt_seg_map' not in results.setdefault('seg_fields', []):
            results['seg_fields'].append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(low_alpha={self.low_alpha}, '
                f'high_alpha={self.high_alpha}, crf={self.crf})')


@TRANSFORMS.register_module()
class PackAffinityInputs(PackWSSSInputs):
    """:class:`PackWSSSInputs` that also packs ``loc_maps`` (C, H, W) as the PixelData field
    ``loc_maps`` of the data sample (read by :class:`AffinityNet` at prediction)."""

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        if 'loc_maps' in results:
            maps = torch.from_numpy(np.ascontiguousarray(results['loc_maps']))
            packed['data_samples'].loc_maps = PixelData(data=maps)
        return packed
