"""A context path (e.g. a pretrained ViT) beside a shallow spatial path on the same image."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptMultiConfig
from torch import Tensor

from .mct_vit import MCTViTOutput


@MODELS.register_module()
class TwoPathBackbone(BaseModule):
    """Two backbones on one image, their feature maps returned as one tuple.

    The idea of the spatial / context paths of BiSeNet ("BiSeNet: Bilateral Segmentation Network
    for Real-time Semantic Segmentation", Yu et al., ECCV 2018, https://arxiv.org/abs/1808.00897):
    a ViT with 14 px patches sees the classes but gives a grid of one cell per patch (8 x 8 on a
    112 px image), too coarse for object boundaries; a few convolutions at stride 4, trained from
    scratch, give the detail. With the spatial path first, MMSeg's DeepLabV3+ head
    (``DepthwiseSeparableASPPHead``) uses it as its low-level ``c1`` input (``inputs[0]``) and
    runs the ASPP on the context path (``in_index=1``).

    ``forward(x)``: ``spatial_path(x)`` (a tuple of (B, C_s, H / s, W / s)) followed by
    ``context_path(resize(x, context_scale))`` (a tuple of (B, D, h, w)); a single tensor from
    either is treated as a one-element tuple, and an :class:`MCTViTOutput` (or a dict with the
    same keys) gives its ``feature_maps`` (with ``out_indices``: several blocks, for a head with
    ``input_transform='resize_concat'``) or else its ``patch_tokens`` (B, D, h, w).
    :class:`CachedTwoPathBackbone` reuses a frozen context path's features across epochs.

    Args:
        context_path (dict): Config of the pretrained backbone, e.g.
            ``dict(type='mmpretrain.VisionTransformer', arch='dinov2-small', out_type='featmap',
            ...)`` or ``dict(type='MultiClassTokenViT', ...)`` (e.g. the stage-1 network's, loaded
            with ``init_cfg=dict(type='Pretrained', checkpoint=CKPT, prefix='backbone.')``). Its own
            ``init_cfg`` loads its weights.
        spatial_path (dict): Config of the shallow backbone, e.g. MMSeg's
            ``dict(type='ResNetV1c', depth=18, num_stages=1, out_indices=(0, ), strides=(1, ),
            dilations=(1, ))`` (stride 4, 64 channels).
        context_scale (float): The context path sees the image resized by this factor (bilinear),
            e.g. 2.0 for 16 x 16 ViT tokens on a 112 px image. Default: 1.0.
        frozen_context_path (bool): Keep the context path in eval mode without gradients (it runs
            under ``torch.no_grad``); only the spatial path and the head train. Default: False.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    def __init__(self,
                 context_path: dict,
                 spatial_path: dict,
                 context_scale: float = 1.0,
                 frozen_context_path: bool = False,
                 init_cfg: OptMultiConfig = None,
                 **kwargs):
        super().__init__(init_cfg=init_cfg)
        moved = sorted(set(kwargs) & {'context_cache_size', 'context_cache_flip'})
        if moved:
            raise TypeError(f'TwoPathBackbone: {moved} belong to type="CachedTwoPathBackbone" '
                            '(the same arguments), which caches the frozen context features')
        if kwargs:
            raise TypeError(f'TwoPathBackbone: unexpected arguments {sorted(kwargs)}')
        if context_scale <= 0:
            raise ValueError('TwoPathBackbone: context_scale must be positive, got '
                             f'{context_scale}')
        self.context_path = MODELS.build(context_path)
        self.spatial_path = MODELS.build(spatial_path)
        self.context_scale = float(context_scale)
        self.frozen_context_path = frozen_context_path
        if frozen_context_path:
            self.context_path.requires_grad_(False)
            self.context_path.eval()

    @staticmethod
    def _as_tuple(outs) -> Tuple[Tensor, ...]:
        if isinstance(outs, MCTViTOutput):
            return outs.feature_maps or (outs.patch_tokens, )
        if isinstance(outs, dict):
            if 'feature_maps' in outs:
                return tuple(outs['feature_maps'])
            if 'patch_tokens' not in outs:
                raise KeyError(f'TwoPathBackbone: a path returned a dict with keys {sorted(outs)}'
                               '; expected "feature_maps" or "patch_tokens"')
            outs = outs['patch_tokens']
        if isinstance(outs, Tensor):
            return (outs, )
        if isinstance(outs, Sequence):
            return tuple(outs)
        raise TypeError(f'TwoPathBackbone: a path returned {type(outs).__name__}; expected a '
                        'tensor or a tuple of feature maps (for a ViT: out_type="featmap")')

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Args: x (Tensor): (B, 3, H, W). Returns: tuple of (B, C_i, h_i, w_i), spatial first."""
        return self._as_tuple(self.spatial_path(x)) + self._context_features(x)

    def _context_features(self, x: Tensor) -> Tuple[Tensor, ...]:
        """The context path's maps of (B, 3, H, W), without gradients when frozen."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_context_path):
            return self._context(x)

    def _context(self, x: Tensor) -> Tuple[Tensor, ...]:
        """The context path on (B, 3, H, W) resized by ``context_scale``."""
        if self.context_scale != 1.0:
            x = F.interpolate(x, scale_factor=self.context_scale, mode='bilinear',
                              align_corners=False)
        return self._as_tuple(self.context_path(x))

    def train(self, mode: bool = True):
        """Set the training mode; a frozen context path stays in eval mode."""
        super().train(mode)
        if self.frozen_context_path:
            self.context_path.eval()
        return self
