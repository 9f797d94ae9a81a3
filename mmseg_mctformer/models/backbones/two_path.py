"""A context path (e.g. a pretrained ViT) beside a shallow spatial path on the same image."""
import hashlib
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptMultiConfig
from torch import Tensor

from ...utils.compat import register_load_state_dict_pre_hook
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
        context_cache_size (int): With a frozen context path, keep the context features of up to
            this many distinct input images (keyed by a hash of the image tensor, so a flipped
            copy is another entry) and reuse them instead of running the context path again:
            with a training pipeline whose only random step is a flip, every epoch after the
            first two costs only the spatial path and the head. Inputs never seen twice (random
            scales, crops, colour jitter) gain nothing. Memory: ``size x D x h x w`` floats on the
            input's device (2 x 2,000 images of 8 x 8 x 384: 197 MB). Once full, new images are
            computed and not stored. Cleared when weights are (re)loaded. 0 = off. Default: 0.
        context_cache_flip (bool): With ``context_cache_size``, an image whose horizontally
            flipped copy is cached reuses that copy's features flipped back (``flip(-1)`` of each
            (D, h, w) map) instead of running the context path: a pipeline with ``RandomFlip``
            then needs one forward per image instead of two. An approximation: a ViT's features
            are not exactly flip-equivariant (its position embeddings are not symmetric), so the
            head sees the flip of the features rather than the features of the flip (on the demo:
            segmentor val mIoU in the README). Which of an image and its mirror runs is fixed by
            their hashes (the smaller one), not by which one came first, so the features of an
            image do not depend on the cache's history: a resumed run, whose cache starts empty,
            trains on the features of the uninterrupted run. Default: False.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    def __init__(self,
                 context_path: dict,
                 spatial_path: dict,
                 context_scale: float = 1.0,
                 frozen_context_path: bool = False,
                 context_cache_size: int = 0,
                 context_cache_flip: bool = False,
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        if context_scale <= 0:
            raise ValueError('TwoPathBackbone: context_scale must be positive, got '
                             f'{context_scale}')
        if context_cache_size < 0:
            raise ValueError('TwoPathBackbone: context_cache_size must be >= 0, got '
                             f'{context_cache_size}')
        if context_cache_size and not frozen_context_path:
            raise ValueError('TwoPathBackbone: context_cache_size needs frozen_context_path=True '
                             '(the features of a training context path change every step)')
        if context_cache_flip and not context_cache_size:
            raise ValueError('TwoPathBackbone: context_cache_flip needs context_cache_size > 0')
        self.context_cache_size = int(context_cache_size)
        self.context_cache_flip = bool(context_cache_flip)
        self._context_cache: Dict[bytes, Tuple[Tensor, ...]] = {}
        self.context_cache_hits = 0
        self.context_cache_misses = 0
        self.context_path = MODELS.build(context_path)
        self.spatial_path = MODELS.build(spatial_path)
        self.context_scale = float(context_scale)
        self.frozen_context_path = frozen_context_path
        if frozen_context_path:
            self.context_path.requires_grad_(False)
            self.context_path.eval()
        # new weights make the cached features stale
        register_load_state_dict_pre_hook(self, self._clear_context_cache_hook)

    def _clear_context_cache_hook(self, *args, **kwargs):
        self.clear_context_cache()

    def clear_context_cache(self):
        """Forget the cached context features (after the context path's weights changed)."""
        self._context_cache.clear()

    def init_weights(self):
        self.clear_context_cache()
        super().init_weights()

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
        spatial = self._as_tuple(self.spatial_path(x))
        if self.context_cache_size:
            return spatial + self._cached_context(x)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_context_path):
            context = self._context(x)
        return spatial + context

    def _context(self, x: Tensor) -> Tuple[Tensor, ...]:
        """The context path on (B, 3, H, W) resized by ``context_scale``."""
        if self.context_scale != 1.0:
            x = F.interpolate(x, scale_factor=self.context_scale, mode='bilinear',
                              align_corners=False)
        return self._as_tuple(self.context_path(x))

    @staticmethod
    def _cache_key(xi: Tensor) -> bytes:
        """A hash of one image (3, H, W): its shape, dtype and values."""
        return hashlib.blake2b(
            str((tuple(xi.shape), xi.dtype)).encode() +
            xi.detach().contiguous().cpu().numpy().tobytes(), digest_size=16).digest()

    def _cached_context(self, x: Tensor) -> Tuple[Tensor, ...]:
        """The frozen context path on (B, 3, H, W): cached images reused (with
        ``context_cache_flip``, also those whose flipped copy is cached), the others resized and
        run in one forward. Returns a tuple of (B, D_i, h_i, w_i)."""
        keys = [self._cache_key(xi) for xi in x]
        per_sample: List[Optional[Tuple[Tensor, ...]]] = [
            self._context_cache.get(key) for key in keys]
        if self.context_cache_flip:
            for i, feats in enumerate(per_sample):
                if feats is None:
                    mirrored = self._context_cache.get(self._cache_key(x[i].flip(-1)))
                    if mirrored is not None:
                        per_sample[i] = tuple(o.flip(-1) for o in mirrored)
        missing = [i for i, feats in enumerate(per_sample) if feats is None]
        self.context_cache_hits += len(keys) - len(missing)
        self.context_cache_misses += len(missing)
        if missing:
            # with the flip reuse, the one of image and mirror with the smaller hash runs
            mirror = {i: self.context_cache_flip and self._cache_key(x[i].flip(-1)) < keys[i]
                      for i in missing}
            inputs = torch.stack([x[i].flip(-1) if mirror[i] else x[i] for i in missing])
            with torch.no_grad():
                outs = self._context(inputs)
            for j, i in enumerate(missing):
                feats = tuple(o[j].clone() for o in outs)
                per_sample[i] = tuple(o.flip(-1) for o in feats) if mirror[i] else feats
                if len(self._context_cache) < self.context_cache_size:
                    key = self._cache_key(inputs[j]) if mirror[i] else keys[i]
                    self._context_cache[key] = feats
        return tuple(torch.stack(level) for level in zip(*per_sample))

    def train(self, mode: bool = True):
        """Set the training mode; a frozen context path stays in eval mode."""
        super().train(mode)
        if self.frozen_context_path:
            self.context_path.eval()
        return self
