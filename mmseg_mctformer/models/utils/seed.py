"""The seed rule of MCTformer: a pixel takes the class of its highest map, or the background when
no kept map exceeds the background threshold (``argmax([t, maps])``).

Every consumer of localisation maps (``MCTformer.predict``, :class:`SeedMetric`, the dense CRF,
the pseudo-label writer and the map visualiser) goes through these functions, so the rule, its
tie-breaking (ties go to the background, then to the lower class index, as ``torch.argmax``) and
the handling of the classes that are not kept live in one place.
"""
import warnings
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

Thresholds = Union[float, Sequence[float], Tensor]


def kept_class_mask(kept_classes: Optional[Tensor], num_classes: int,
                    device: Optional[torch.device] = None) -> Tensor:
    """Bool mask (C,) of the kept classes.

    Args:
        kept_classes (Tensor, optional): Bool mask (C,) or foreground indices (K,) of the classes
            whose maps may win a pixel. None means every class.
        num_classes (int): C, the number of foreground classes.
        device (torch.device, optional): Device of the result. Default: None (that of
            ``kept_classes``, else CPU).

    Returns:
        Tensor: Bool (C,).
    """
    if kept_classes is None:
        return torch.ones(num_classes, dtype=torch.bool, device=device)
    kept = torch.as_tensor(kept_classes, device=device).flatten()
    if kept.dtype == torch.bool:
        if kept.numel() != num_classes:
            raise ValueError(f'kept_classes is a mask of length {kept.numel()}, expected '
                             f'num_classes={num_classes}')
        return kept
    mask = torch.zeros(num_classes, dtype=torch.bool, device=kept.device)
    if kept.numel():
        if int(kept.min()) < 0 or int(kept.max()) >= num_classes:
            raise ValueError(f'kept_classes indices must lie in 0..{num_classes - 1}, got '
                             f'{kept.tolist()}')
        mask[kept.long()] = True
    return mask


def seed_labels(maps: Tensor, bg_threshold: Thresholds,
                kept_classes: Optional[Tensor] = None) -> Tensor:
    """Seed mask(s) of one image: ``argmax([t, maps of the kept classes])``.

    Args:
        maps (Tensor): Class maps (C, H, W), normalised to [0, 1].
        bg_threshold (float | Sequence[float] | Tensor): Background score t, or T of them (one
            mask per threshold, computed in one pass).
        kept_classes (Tensor, optional): Bool mask (C,) or indices of the classes that may win a
            pixel; the others never do. Default: None (all classes).

    Returns:
        Tensor: Long labels, 0 = background, c + 1 = class c; (H, W) for a scalar threshold,
        (T, H, W) for a sequence.
    """
    if maps.dim() != 3 or maps.shape[0] < 1:
        raise ValueError(f'maps must have shape (C, H, W) with C >= 1, got {tuple(maps.shape)}')
    keep = kept_class_mask(kept_classes, maps.shape[0], maps.device)
    scores = maps.float().masked_fill(~keep.view(-1, 1, 1), float('-inf'))
    fg_score, fg_label = scores.max(dim=0)  # (H, W) each; first index on ties
    scalar = isinstance(bg_threshold, (int, float)) or (
        isinstance(bg_threshold, Tensor) and bg_threshold.dim() == 0)
    thr = torch.as_tensor(bg_threshold, dtype=fg_score.dtype, device=fg_score.device).view(-1)
    is_fg = fg_score.unsqueeze(0) > thr.view(-1, 1, 1)  # (T, H, W); ties -> background
    labels = torch.where(is_fg, fg_label.unsqueeze(0) + 1, torch.zeros_like(fg_label)[None])
    return labels[0] if scalar else labels


def seed_scores(maps: Tensor, bg_threshold: float, classes: Optional[Tensor] = None,
                num_classes: Optional[int] = None) -> Tensor:
    """Scores ``[t, maps]`` (C + 1, H, W) whose argmax is the seed (:func:`seed_labels`).

    This is the ``seg_logits`` layout of ``MCTformer.predict`` (channel 0 = background score);
    consumers take the threshold and the kept classes from the data sample, not from channel 0.

    Args:
        maps (Tensor): Class maps (C, H, W) in [0, 1], 0 for the classes not kept; with
            ``classes``, the maps (K, H, W) of those K classes only.
        bg_threshold (float): Background score t.
        classes (Tensor, optional): Long indices (K,) of the classes of ``maps``; the other
            channels are 0. Default: None (``maps`` holds every class).
        num_classes (int, optional): C, required with ``classes``. Default: None.

    Returns:
        Tensor: Float (C + 1, H, W).
    """
    if classes is None:
        bg = maps.new_full((1, *maps.shape[-2:]), float(bg_threshold))
        return torch.cat([bg, maps])
    if num_classes is None:
        raise ValueError('seed_scores: num_classes is required with classes')
    scores = maps.new_zeros((num_classes + 1, *maps.shape[-2:]))
    scores[0] = float(bg_threshold)
    scores[classes + 1] = maps
    return scores


def warn_no_class_kept(sample, probs: Tensor, score_thr: float) -> None:
    """Warn that no class score of an image passed ``score_thr``: its seed is all background.

    Without image-level labels the kept classes are those whose score exceeds
    ``test_cfg.score_thr``; a model trained briefly (or on few images) can score every class
    below it. The warning names the image, the highest score and the setting to change.

    Args:
        sample: The image's ``SegDataSample`` (metainfo ``img_path`` when known).
        probs (Tensor): Class scores (C,) after the sigmoid.
        score_thr (float): The threshold they were compared with.
    """
    name = sample.metainfo.get('img_path', 'an image')
    top = int(probs.argmax())
    warnings.warn(
        f'MCTformer.predict: no class score of {name} exceeds test_cfg.score_thr={score_thr} '
        f'(highest: class {top}, {float(probs[top]):.3f}), so its seed is all background; lower '
        'model.test_cfg.score_thr or give the image-level labels (inference_seeds(labels=...))',
        stacklevel=2)
