"""A two-path backbone whose frozen context path runs once per training image."""
from typing import Tuple

from mmseg.registry import MODELS
from torch import Tensor

from ...utils.compat import register_load_state_dict_pre_hook
from ..utils.feature_cache import FrozenFeatureCache
from .two_path import TwoPathBackbone


@MODELS.register_module()
class CachedTwoPathBackbone(TwoPathBackbone):
    """:class:`TwoPathBackbone` with its frozen context path's features kept per input image.

    A schedule for small data (the demo's final stage: a frozen ViT under a trained spatial path
    and head, images only flipped) sees each image many times; the context features of an image
    are computed once (:class:`FrozenFeatureCache`, keyed by a hash of the image) and every epoch
    after the first costs only the spatial path and the head. The spatial path always runs: it
    trains. The features are cleared when weights are (re)loaded.

    Args:
        context_cache_size (int): The most distinct input images whose context features are kept
            (> 0); a flipped copy is another entry unless ``context_cache_flip``. Memory:
            ``size x D x h x w`` values on the input's device (2,000 images of 12 x 12 x 384:
            442 MB). Once full, new images are computed and not stored.
        context_cache_flip (bool): An image whose horizontally flipped copy is kept reuses that
            copy's features flipped back (one context forward per image under ``RandomFlip``);
            an approximation, since a ViT is not exactly flip-equivariant. Default: False.
        **kwargs: The arguments of :class:`TwoPathBackbone`; ``frozen_context_path`` must be
            True (the features of a training context path change every step).
    """

    def __init__(self, context_cache_size: int, context_cache_flip: bool = False, **kwargs):
        if not kwargs.get('frozen_context_path', False):
            raise ValueError('CachedTwoPathBackbone: context_cache_size needs '
                             'frozen_context_path=True (the features of a training context path '
                             'change every step)')
        if context_cache_size <= 0:
            raise ValueError('CachedTwoPathBackbone: context_cache_size must be > 0, got '
                             f'{context_cache_size} (TwoPathBackbone runs without a cache)')
        super().__init__(**kwargs)
        self.context_cache = FrozenFeatureCache(context_cache_size, reuse_flip=context_cache_flip)
        # new weights make the kept features stale
        register_load_state_dict_pre_hook(self, self._clear_cache_hook)

    def _clear_cache_hook(self, *args, **kwargs):
        self.context_cache.clear()

    def init_weights(self):
        self.context_cache.clear()
        super().init_weights()

    def _context_features(self, x: Tensor) -> Tuple[Tensor, ...]:
        """The frozen context path's maps of (B, 3, H, W), from the cache where known."""
        return self.context_cache(x, self._context)
