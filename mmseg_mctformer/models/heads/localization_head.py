"""Localisation head of MCTformer / MCTformer+: class scores, maps, test-time aggregation, seeds."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor

from ..backbones.mct_vit import MCTViTOutput
from ..utils.localization import localization_maps, minmax_normalise
from ..utils.seed import seed_labels, seed_scores, warn_no_class_kept


@MODELS.register_module()
class MCTLocalizationHead(BaseModule):
    """Class scores and class localisation maps from a multi-class-token ViT's output.

    "Multi-class Token Transformer for Weakly Supervised Semantic Segmentation" (Xu et al.,
    CVPR 2022, https://arxiv.org/abs/2203.02891) and "MCTformer+" (TPAMI,
    https://arxiv.org/abs/2308.03005). Composes the class-token head (scores from the C class
    tokens) and the PatchCAM head (the conv over the patch tokens and its pooled scores); the maps
    are :func:`~mmseg_mctformer.models.utils.localization_maps` of the backbone's attention and
    the PatchCAM maps.

    ``loss(): cls_head / cam_head -> loss_by_scores()``
    ``forward(): cls_head, cam_head -> localization_maps`` (one forward, token resolution)
    ``predict(): forward() -> upsample -> min-max -> seg_logits`` (one forward, every class)
    ``predict_by_views(): per image: keep classes -> upsample and sum the views -> min-max ->
    seed`` (the test-time augmentation of :class:`~mmseg_mctformer.models.MCTformer`)

    The settings are the segmentor's ``test_cfg`` (see
    :mod:`~mmseg_mctformer.models.heads.localization_test_cfg`), passed to every call as
    MMSeg's decode heads take it.

    Args:
        cls_head (dict, optional): Config of :class:`ClassTokenPoolHead`. Default: None.
        cam_head (dict, optional): Config of :class:`PatchCAMHead`. Default: None.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    def __init__(self,
                 cls_head: Optional[dict] = None,
                 cam_head: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if cls_head is None and cam_head is None:
            raise ValueError('MCTLocalizationHead: at least one of cls_head and cam_head must '
                             'be given')
        self.cls_head = MODELS.build(cls_head) if cls_head is not None else None
        self.cam_head = MODELS.build(cam_head) if cam_head is not None else None

    # ------------------------------------------------------------------ training
    def loss(self, feats: MCTViTOutput, labels: Tensor) -> Dict[str, Tensor]:
        """Classification losses of both heads from the backbone's tokens.

        Args:
            feats (MCTViTOutput): Backbone output; uses ``cls_token`` (B, C, D) and
                ``patch_tokens`` (B, D, h, w).
            labels (Tensor): Multi-hot labels (B, C) float32.

        Returns:
            dict[str, Tensor]: ``loss_cls_token`` / ``loss_patch_cam`` (the heads' loss names) and
            ``acc_cls_token`` / ``acc_patch_cam`` (per-label accuracy in %, logged only).
        """
        losses = {}
        if self.cls_head is not None:
            scores = self.cls_head(feats.cls_token)
            losses.update(self.cls_head.loss_by_scores(scores, labels))
            losses['acc_cls_token'] = _multilabel_accuracy(scores, labels)
        if self.cam_head is not None:
            _, scores = self.cam_head(feats.patch_tokens)
            losses.update(self.cam_head.loss_by_scores(scores, labels))
            losses['acc_patch_cam'] = _multilabel_accuracy(scores, labels)
        return losses

    # ------------------------------------------------------------------ inference
    def forward(self, feats: MCTViTOutput, test_cfg: dict) -> Dict[str, Tensor]:
        """Token-resolution maps and class scores of one forward.

        Args:
            feats (MCTViTOutput): Backbone output, with ``attention`` unless
                ``test_cfg['map_type']`` is ``'patchcam'``.
            test_cfg (dict): ``map_type``, ``top_k``, ``affinity_layers``, ``fusion``,
                ``attn_reduce``.

        Returns:
            dict[str, Tensor]: ``maps`` (B, C, h, w) float32 (not normalised), ``cls_scores``
            (B, C) and/or ``cam_scores`` (B, C), ``cams`` (B, C, h, w) when the heads exist.
        """
        out = {}
        cams = None
        if self.cls_head is not None:
            out['cls_scores'] = self.cls_head(feats.cls_token).float()
        if self.cam_head is not None:
            cams, cam_scores = self.cam_head(feats.patch_tokens)
            out['cams'] = cams.float()
            out['cam_scores'] = cam_scores.float()
        num_classes = (self.cls_head or self.cam_head).num_classes
        out['maps'] = localization_maps(
            feats, cams, num_classes, test_cfg['map_type'], test_cfg['top_k'],
            test_cfg['affinity_layers'], fusion=test_cfg['fusion'],
            attn_reduce=test_cfg['attn_reduce'])
        return out

    def predict(self, feats: MCTViTOutput, batch_img_metas: List[dict],
                test_cfg: dict) -> Tensor:
        """Seg logits of one forward, every class, no class selection.

        Args:
            feats (MCTViTOutput): Backbone output of the images.
            batch_img_metas (list[dict]): Their metainfo; ``pad_shape`` of the first gives the
                output size (the input batch's size).
            test_cfg (dict): See :meth:`forward`; ``minmax_eps``, ``bg_threshold``.

        Returns:
            Tensor: (B, C + 1, H, W): channel 0 = ``bg_threshold``, channels 1..C = the min-max
            normalised maps.
        """
        size = tuple(batch_img_metas[0]['pad_shape'][:2])
        maps = self(feats, test_cfg)['maps']
        maps = minmax_normalise(
            F.interpolate(maps, size, mode='bilinear', align_corners=False),
            test_cfg['minmax_eps'])
        thr = float(test_cfg['bg_threshold'])
        return torch.stack([seed_scores(m, thr) for m in maps])

    def predict_by_views(self, views: Sequence[Dict[str, Tensor]],
                         data_samples: Sequence[SegDataSample], ori_shape: Sequence[int],
                         test_cfg: dict) -> None:
        """Aggregate the views of a group of images into each image's maps and seed.

        Args:
            views (Sequence[dict]): :meth:`forward` outputs of the test-time views of G images of
                one size, one per scale: ``maps`` (F * G, C, h, w) with F = 2 under
                ``test_cfg['flip']`` (the G originals, then their flips, maps not flipped back)
                and the class scores (F * G, C).
            data_samples (Sequence[SegDataSample]): The G samples (metainfo ``flip``,
                ``gt_class_labels``), filled in place.
            ori_shape (tuple[int, int]): Size (H', W') every map is upsampled to.
            test_cfg (dict): ``use_gt_labels``, ``score_thr``, ``minmax_eps``,
                ``bg_threshold``.

        Fills ``seg_logits`` (C + 1, H', W'), ``pred_sem_seg`` (1, H', W'), ``kept_classes``
        (C,) bool, ``bg_threshold`` and ``pred_class_scores`` (C,) of every sample.
        """
        num = len(data_samples)
        num_classes = views[0]['maps'].shape[1]
        probs = views[0]['maps'].new_zeros((num, num_classes), dtype=torch.float32)
        for out in views:
            scores = out['cls_scores'] if 'cls_scores' in out else out['cam_scores']
            probs += scores.sigmoid().view(-1, num, num_classes).sum(0)
        probs = probs / (len(views) * (2 if test_cfg['flip'] else 1))  # every forward
        token_maps = [out['maps'] for out in views]
        for slot, (sample, sample_probs) in enumerate(zip(data_samples, probs)):
            keep = self._kept_classes(sample, sample_probs, test_cfg)
            kept = keep.nonzero().flatten()
            maps = self._summed_maps(token_maps, slot, num, kept, ori_shape)
            self._set_seed_outputs(sample, maps, keep, kept, sample_probs, test_cfg)

    @staticmethod
    def _summed_maps(token_maps: List[Tensor], index: int, num: int, classes: Tensor,
                     out_size: Sequence[int]) -> Tensor:
        """Maps of some classes of one image, upsampled and summed over scales and flips.

        Only the classes asked for are upsampled to the image size: the seeds keep the image's
        classes (2 of 20 on a typical VOC image), the other maps are zero.

        Args:
            token_maps (list[Tensor]): (F * G, C, h, w) a scale (see :meth:`predict_by_views`).
            index (int): The image's position g in its group.
            num (int): The group size G.
            classes (Tensor): Long indices (K,) of the classes.
            out_size (tuple[int, int]): Size (H', W') every map is upsampled to (the image's
                ``ori_shape``, as the reference code's original image).

        Returns:
            Tensor: Summed maps (K, H', W') float32.
        """
        out_size = tuple(int(s) for s in out_size)
        total = token_maps[0].new_zeros((classes.numel(), *out_size))
        if not classes.numel():  # no class kept: nothing to upsample
            return total
        for maps in token_maps:
            for j in range(index, maps.shape[0], num):  # the original, then its flip
                up = F.interpolate(maps[j, classes][None], out_size, mode='bilinear',
                                   align_corners=False)[0]
                total += up.flip(-1) if j >= num else up
        return total

    @staticmethod
    def _kept_classes(sample: SegDataSample, probs: Tensor, test_cfg: dict) -> Tensor:
        """Bool mask (C,) of the classes whose maps are kept: the image labels
        (``use_gt_labels``), else the classes whose probability (C,) exceeds ``score_thr``."""
        labels = getattr(sample, 'gt_class_labels', None)
        if test_cfg['use_gt_labels'] and labels is not None:
            labels = torch.as_tensor(labels, device=probs.device).flatten()
            if labels.numel() != probs.numel():
                raise ValueError(f'MCTformer.predict: gt_class_labels has length '
                                 f'{labels.numel()}, expected num_classes={probs.numel()}')
            return labels > 0
        keep = probs > test_cfg['score_thr']
        if not bool(keep.any()):
            warn_no_class_kept(sample, probs, test_cfg['score_thr'])
        return keep

    @staticmethod
    def _set_seed_outputs(sample: SegDataSample, maps: Tensor, keep: Tensor, kept: Tensor,
                          probs: Tensor, test_cfg: dict) -> None:
        """Store the normalised maps of the kept classes, the seed and the scores in ``sample``.

        Args:
            sample (SegDataSample): The image's sample (metainfo ``flip``).
            maps (Tensor): Summed maps (K, H', W') of the K kept classes at ``ori_shape``.
            keep (Tensor): Bool mask (C,) of the kept classes.
            kept (Tensor): Their long indices (K,), ``keep.nonzero()`` (the order of ``maps``).
            probs (Tensor): Class probabilities (C,).
            test_cfg (dict): ``minmax_eps``, ``bg_threshold``.
        """
        meta = sample.metainfo
        maps = minmax_normalise(maps, test_cfg['minmax_eps'])
        if meta.get('flip', False):
            dim = -1 if meta.get('flip_direction', 'horizontal') == 'horizontal' else -2
            maps = maps.flip(dim)
        thr = float(test_cfg['bg_threshold'])
        logits = seed_scores(maps, thr, kept, keep.numel())  # the classes not kept are 0
        if kept.numel():
            # the seed rule on the kept maps only, labels mapped back to class index + 1
            lut = torch.cat([kept.new_zeros(1), kept + 1])
            labels = lut[seed_labels(maps, thr)]
        else:
            labels = torch.zeros(maps.shape[-2:], dtype=torch.long, device=maps.device)
        sample.set_data({
            'seg_logits': PixelData(data=logits),
            'pred_sem_seg': PixelData(data=labels[None]),
            'kept_classes': keep,
            'bg_threshold': thr,
        })
        sample.pred_class_scores = probs


def _multilabel_accuracy(scores: Tensor, labels: Tensor) -> Tensor:
    """Percentage of (image, class) pairs with ``(score > 0) == label``; no gradient."""
    with torch.no_grad():
        return ((scores > 0).float() == labels).float().mean() * 100
