"""AffinityNet: learned pixel affinities that turn seeds into masks by a random walk."""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.structures import PixelData
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptMultiConfig, SampleList
from torch import Tensor, nn

from ..backbones.mct_vit import MCTViTOutput
from ..losses.affinity_loss import affinity_loss_terms
from ..utils.random_walk import (
    affinity_pair_labels,
    pair_valid_mask,
    pairwise_affinity,
    radius_offsets,
    random_walk,
)

DEFAULT_TEST_CFG = dict(bg_threshold=0.39, beta=8.0, logt=6, random_walk=True)


@MODELS.register_module()
class AffinityNet(BaseSegmentor):
    """Pixel-affinity network trained from localisation maps; masks by random walk.

    "Learning Pixel-level Semantic Affinity with Image-level Supervision for Weakly Supervised
    Semantic Segmentation" (PSA, Ahn & Kwak, CVPR 2018, https://arxiv.org/abs/1803.10464), the
    mask stage of MCTformer / MCTformer+.

    ``loss(): extract_feat() -> pairwise_affinity() -> affinity_pair_labels(gt_sem_seg) ->
    loss_aff``
    ``predict(): extract_feat() -> pairwise_affinity() -> random_walk(loc_maps) -> argmax``

    Features: the backbone's levels ``in_index`` (a tuple / list of (B, C_i, h_i, w_i); the
    :class:`MCTViTOutput` of a :class:`MultiClassTokenViT`, or a dict, gives its
    ``patch_tokens``) each go through a 1x1 conv (+ norm + ReLU) to ``channels[i]``, are resized
    (bilinear) to the affinity grid ``ceil(H / out_stride) x ceil(W / out_stride)`` and
    concatenated, optionally with the output of a shallow convolutional ``image_branch`` on the
    image (stride 4, trained from scratch: gives boundary detail to backbones with a coarse grid
    such as a ViT with 14 px patches), then a 1x1 conv gives the affinity features
    (B, embed_dims, h, w). Affinities of the pairs closer than ``radius`` cells:
    ``exp(-mean |f_i - f_j|)`` (:func:`pairwise_affinity`).

    Training labels: ``gt_sem_seg`` of the data samples, the affinity labels of
    :class:`GenerateAffinityLabel` (0 confident background, c + 1 confident class c, 255
    unconfident), resized (nearest) to the affinity grid.

    Prediction (``test_cfg``, defaults in brackets): the data samples carry ``loc_maps``
    (PixelData (C, H, W), stage-1 maps in [0, 1] at the original size, 0 for absent classes;
    :class:`PackAffinityInputs`). Scores ``[bg_threshold [0.39], maps of the kept classes]`` are
    averaged onto the affinity grid, propagated by ``2^logt`` [6] random-walk steps with the
    affinities raised to ``beta`` [8] (:func:`random_walk`), upsampled (bilinear) to the image
    and the argmax is the mask. ``random_walk`` [True] False skips the walk (the seed at
    ``bg_threshold``: the ablation). The outputs follow ``docs/conventions.md``: ``seg_logits``
    (C + 1, H, W) with channel 0 the background score, ``pred_sem_seg`` (1, H, W).

    Args:
        backbone (dict): Backbone config (any mmseg / mmpretrain backbone; e.g. ``ResNetV1c``
            with ``out_indices=(1, 2, 3)``, or ``MultiClassTokenViT``).
        in_index (Sequence[int]): Backbone levels used. Default: (0, ).
        in_channels (Sequence[int]): Channels of those levels. Default: (384, ).
        channels (Sequence[int]): Channels of each level after its 1x1 conv. Default: (256, ).
        embed_dims (int): Channels of the affinity features. Default: 448 (PSA).
        out_stride (int): Stride of the affinity grid in pixels. Default: 8.
        image_branch (Sequence[int], optional): Channels of the convs of the image branch (the
            first two have stride 2); None for none. Default: None.
        radius (int): Pairs closer than this many grid cells get an affinity. Default: 5 (PSA).
        freeze_backbone (bool): Keep the backbone in eval mode without gradients (only the
            heads train). Default: False.
        norm_cfg (dict, optional): Norm of the convs. Default: None, which means
            ``dict(type='GN', num_groups=8)``.
        loss_aff (dict, optional): Loss config. Default: None, which means
            ``dict(type='AffinityLoss')``.
        ignore_index (int): Label of the unconfident pixels. Default: 255.
        train_cfg (dict, optional): Unused. Default: None.
        test_cfg (dict, optional): See above. Default: None.
        data_preprocessor (dict, optional): ``SegDataPreProcessor`` config. Default: None.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    def __init__(self,
                 backbone: dict,
                 in_index: Sequence[int] = (0, ),
                 in_channels: Sequence[int] = (384, ),
                 channels: Sequence[int] = (256, ),
                 embed_dims: int = 448,
                 out_stride: int = 8,
                 image_branch: Sequence[int] = None,
                 radius: int = 5,
                 freeze_backbone: bool = False,
                 norm_cfg: OptConfigType = None,
                 loss_aff: OptConfigType = None,
                 ignore_index: int = 255,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not len(in_index) == len(in_channels) == len(channels):
            raise ValueError(f'AffinityNet: in_index {tuple(in_index)}, in_channels '
                             f'{tuple(in_channels)} and channels {tuple(channels)} must have the '
                             'same length')
        norm_cfg = norm_cfg or dict(type='GN', num_groups=8)
        self.backbone = MODELS.build(backbone)
        self.in_index = tuple(in_index)
        self.out_stride = int(out_stride)
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            self.backbone.requires_grad_(False)
        self.level_convs = nn.ModuleList(
            ConvModule(c_in, c_out, 1, norm_cfg=norm_cfg, act_cfg=dict(type='ReLU'))
            for c_in, c_out in zip(in_channels, channels))
        total = sum(channels)
        self.image_branch = None
        if image_branch:
            layers, c_in = [], 3
            for i, c_out in enumerate(image_branch):
                layers.append(ConvModule(c_in, c_out, 3, stride=2 if i < 2 else 1, padding=1,
                                         norm_cfg=norm_cfg, act_cfg=dict(type='ReLU')))
                c_in = c_out
            self.image_branch = nn.Sequential(*layers)
            total += c_in
        self.embed = nn.Conv2d(total, embed_dims, 1)
        self.offsets = radius_offsets(radius)
        self.radius = radius
        self.loss_aff = MODELS.build(loss_aff or dict(type='AffinityLoss'))
        self.ignore_index = ignore_index
        self.train_cfg = train_cfg
        self.test_cfg = dict(DEFAULT_TEST_CFG, **(test_cfg or {}))

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    # ---------------------------------------------------------------- features
    def _levels(self, out) -> List[Tensor]:
        if isinstance(out, MCTViTOutput):
            out = [out.patch_tokens]
        elif isinstance(out, dict):
            if 'patch_tokens' not in out:
                raise KeyError(f'AffinityNet: the backbone returned a dict with keys '
                               f'{sorted(out)}; expected "patch_tokens"')
            out = [out['patch_tokens']]
        elif isinstance(out, Tensor):
            out = [out]
        out = list(out)
        bad = [i for i in self.in_index if not -len(out) <= i < len(out)]
        if bad:
            raise IndexError(f'AffinityNet: in_index {self.in_index} but the backbone returns '
                             f'{len(out)} levels')
        return [out[i] for i in self.in_index]

    def grid_size(self, hw: Tuple[int, int]) -> Tuple[int, int]:
        """Affinity grid (h, w) of an input of size ``hw``."""
        return math.ceil(hw[0] / self.out_stride), math.ceil(hw[1] / self.out_stride)

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """Affinity features (B, embed_dims, h, w) of images (B, 3, H, W)."""
        if self.freeze_backbone:
            with torch.no_grad():
                out = self.backbone(inputs)
        else:
            out = self.backbone(inputs)
        grid = self.grid_size(inputs.shape[-2:])
        feats = [
            F.interpolate(conv(x), size=grid, mode='bilinear', align_corners=False)
            for conv, x in zip(self.level_convs, self._levels(out))
        ]
        if self.image_branch is not None:
            x = self.image_branch(inputs)
            feats.append(F.interpolate(x, size=grid, mode='bilinear', align_corners=False))
        return self.embed(torch.cat(feats, dim=1))

    def encode_decode(self, inputs: Tensor, batch_data_samples: SampleList) -> Tensor:
        """Affinities (B, P, h, w), float32, of the pairs within the radius.

        Under ``torch.autocast`` (``AutocastOptimWrapper``, ``--amp``) the features may come out
        in bfloat16; the affinities are computed from them in float32 with autocast off. In
        bfloat16 an affinity closer to 1 than 2^-8 rounds to 1, and ``log(1 + 1e-5 - a)`` of the
        negative term is then ``log(0)``: measured on the demo, an AffinityNet so trained gave
        collapsed masks (mIoU 11.8, almost all background).
        """
        feats = self.extract_feat(inputs)
        with torch.autocast(device_type=feats.device.type, enabled=False):
            return pairwise_affinity(feats.float(), self.offsets)

    def _forward(self, inputs: Tensor, data_samples: SampleList = None) -> Tensor:
        return self.encode_decode(inputs, data_samples)

    # ------------------------------------------------------------------ train
    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """PSA loss from the affinity labels ``gt_sem_seg`` of the data samples.

        Returns:
            dict: ``loss_aff`` (back-propagated) and the logged terms ``aff_bg``, ``aff_fg``,
            ``aff_neg`` and the fractions of pairs of each kind (``pairs_bg``, ...).
        """
        aff = self.encode_decode(inputs, data_samples)  # (B, P, h, w)
        labels = torch.stack([s.gt_sem_seg.data for s in data_samples]).float()  # (B, 1, H, W)
        labels = F.interpolate(labels, size=aff.shape[-2:], mode='nearest')[:, 0].long()
        pos_bg, pos_fg, neg = affinity_pair_labels(labels, self.offsets, self.ignore_index)
        losses = {self.loss_aff.loss_name: self.loss_aff(aff, pos_bg, pos_fg, neg)}
        with torch.no_grad():
            terms = affinity_loss_terms(aff, pos_bg, pos_fg, neg)
            total = pair_valid_mask(aff.shape[-2:], self.offsets, aff.device).sum() * len(aff)
            for k, mask in (('bg', pos_bg), ('fg', pos_fg), ('neg', neg)):
                losses[f'aff_{k}'] = terms[k]
                losses[f'pairs_{k}'] = mask.sum().float() / total.clamp(min=1)
        return losses

    # ---------------------------------------------------------------- predict
    def predict(self, inputs: Tensor, data_samples: SampleList = None) -> SampleList:
        """Masks of the images by random walk of their ``loc_maps`` (see the class docstring)."""
        if data_samples is None or any('loc_maps' not in s for s in data_samples):
            raise KeyError('AffinityNet.predict: every data sample needs "loc_maps" (the stage-1 '
                           'maps; add LoadLocalizationMaps and PackAffinityInputs to the test '
                           'pipeline)')
        cfg = self.test_cfg
        aff = self.encode_decode(inputs, data_samples) if cfg['random_walk'] else None
        # the walk in float32 under autocast too (bfloat16 inference): its transition matrix is
        # raised to the power 2^logt
        with torch.autocast(device_type=inputs.device.type, enabled=False):
            return self._walk(aff, data_samples)

    def _walk(self, aff: Optional[Tensor], data_samples: SampleList) -> SampleList:
        """The masks of :meth:`predict` from the affinities ``aff`` (B, P, h, w) (or None)."""
        cfg = self.test_cfg
        for i, sample in enumerate(data_samples):
            maps = sample.loc_maps.data.float()  # (C, H, W)
            C, H, W = maps.shape
            kept = [c for c in range(C) if maps[c].max() > 0]
            scores = torch.cat([maps.new_full((1, H, W), float(cfg['bg_threshold'])),
                                maps[kept]])  # (1 + K, H, W)
            if aff is not None and kept:
                grid = self.grid_size(sample.metainfo.get('img_shape', (H, W))[:2])
                small = F.interpolate(scores[None], size=grid, mode='area')[0]
                walked = random_walk(small, aff[i, :, :grid[0], :grid[1]], self.offsets,
                                     cfg['beta'], cfg['logt'])
                scores = F.interpolate(walked[None], size=(H, W), mode='bilinear',
                                       align_corners=False)[0]
            lut = torch.tensor([0] + [c + 1 for c in kept], device=maps.device)
            label = lut[scores.argmax(0)]
            logits = maps.new_zeros(C + 1, H, W)
            logits[0] = scores[0]
            if kept:
                logits[torch.tensor(kept) + 1] = scores[1:]
            sample.set_data(dict(seg_logits=PixelData(data=logits),
                                 pred_sem_seg=PixelData(data=label[None])))
        return data_samples
