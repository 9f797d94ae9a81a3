"""Optional dense-CRF post-processing of seed maps (fully connected CRF, Kraehenbuehl & Koltun).

Uses the ``pydensecrf`` module provided by the ``pydensecrf2`` distribution
(``pip install pydensecrf2``; it builds from source with a C++ compiler). It is not a dependency of
this project: :func:`crf_available` tells whether it can be used, and callers skip the step with a
message when it cannot.
"""
from typing import Optional, Sequence

import numpy as np
import torch

from .seed import kept_class_mask, seed_scores

#: Pairwise terms of the CRF as commonly used for WSSS seeds (PSA / DeepLab settings).
DEFAULT_CRF_CFG = dict(
    iters=10, gaussian_sxy=3, gaussian_compat=3, bilateral_sxy=80, bilateral_srgb=13,
    bilateral_compat=10)

CRF_MISSING_MSG = ('dense-CRF post-processing was requested but the `pydensecrf` module is not '
                   'installed (pip install pydensecrf2); the CRF step is skipped')


def crf_available() -> bool:
    """Whether ``pydensecrf`` can be imported."""
    try:
        import pydensecrf.densecrf  # noqa: F401
    except ImportError:
        return False
    return True


def dense_crf(image: np.ndarray, probs: np.ndarray, iters: int = 10, gaussian_sxy: float = 3,
              gaussian_compat: float = 3, bilateral_sxy: float = 80, bilateral_srgb: float = 13,
              bilateral_compat: float = 10) -> np.ndarray:
    """Refine per-pixel label probabilities with a fully connected CRF.

    Args:
        image (np.ndarray): RGB image, uint8, shape (H, W, 3).
        probs (np.ndarray): Label probabilities, shape (K, H, W), summing to 1 over K.
        iters (int): Mean-field iterations. Default: 10.
        gaussian_sxy (float): Spatial std of the smoothness kernel. Default: 3.
        gaussian_compat (float): Weight of the smoothness kernel. Default: 3.
        bilateral_sxy (float): Spatial std of the appearance kernel. Default: 80.
        bilateral_srgb (float): Colour std of the appearance kernel. Default: 13.
        bilateral_compat (float): Weight of the appearance kernel. Default: 10.

    Returns:
        np.ndarray: Refined marginals, float32, shape (K, H, W).
    """
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    num_labels, height, width = probs.shape
    if image.shape != (height, width, 3):
        raise ValueError(f'dense_crf: image shape {image.shape} does not match the probabilities '
                         f'(K, H, W) = {probs.shape}; expected ({height}, {width}, 3)')
    crf = dcrf.DenseCRF2D(width, height, num_labels)
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs.astype(np.float32))))
    crf.addPairwiseGaussian(sxy=gaussian_sxy, compat=gaussian_compat)
    crf.addPairwiseBilateral(sxy=bilateral_sxy, srgb=bilateral_srgb,
                             rgbim=np.ascontiguousarray(image.astype(np.uint8)),
                             compat=bilateral_compat)
    marginals = np.array(crf.inference(iters), dtype=np.float32)
    return marginals.reshape(num_labels, height, width)


def crf_seed_labels(image: np.ndarray, class_maps: np.ndarray, bg_threshold: float,
                    crf_cfg: dict = None, kept_classes: Optional[Sequence] = None) -> np.ndarray:
    """Seed mask of one image refined by a dense CRF.

    The labels are the background and the kept classes; their seed scores ``[bg_threshold,
    maps...]`` (:func:`~mmseg_mctformer.models.utils.seed_scores`) are normalised to sum to 1 per
    pixel and refined.

    Args:
        image (np.ndarray): RGB image, uint8, shape (H, W, 3).
        class_maps (np.ndarray): Class maps in [0, 1], shape (C, H, W).
        bg_threshold (float): Background score.
        crf_cfg (dict, optional): Keyword arguments of :func:`dense_crf`. Default: ``None``, which
            means :data:`DEFAULT_CRF_CFG`.
        kept_classes (Sequence, optional): Bool mask (C,) or indices of the kept classes (the
            ``kept_classes`` of the prediction). Default: None (all classes).

    Returns:
        np.ndarray: Labels, uint8, shape (H, W); 0 = background, c + 1 = class c.
    """
    maps = torch.as_tensor(np.asarray(class_maps, dtype=np.float32))
    kept = torch.nonzero(kept_class_mask(
        None if kept_classes is None else torch.as_tensor(np.asarray(kept_classes)),
        maps.shape[0])).flatten()
    scores = seed_scores(maps[kept], bg_threshold).numpy()
    probs = scores / np.maximum(scores.sum(0, keepdims=True), 1e-5)
    cfg = dict(DEFAULT_CRF_CFG, **(crf_cfg or {}))
    refined = dense_crf(image, probs, **cfg).argmax(0)
    lut = np.array([0] + [int(c) + 1 for c in kept], dtype=np.uint8)
    return lut[refined]
