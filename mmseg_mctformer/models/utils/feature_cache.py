"""Per-image features of a frozen network, computed once and reused across epochs."""
import hashlib
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

Features = Tuple[Tensor, ...]


class FrozenFeatureCache:
    """The outputs of a frozen network per input image, keyed by a hash of the image.

    With a training pipeline whose only random step is a horizontal flip, every epoch after the
    first sees images whose features are already known: ``cache(x, compute)`` returns them and
    runs ``compute`` only on the images it has not seen. Inputs never seen twice (random scales,
    crops, colour jitter) gain nothing.

    With ``reuse_flip``, an image whose horizontally flipped copy is cached gets that copy's
    features flipped back (``flip(-1)`` of each (D, h, w) map), so a pipeline with ``RandomFlip``
    needs one forward per image instead of two. This is an approximation: a ViT's features are
    not exactly flip-equivariant (its position embeddings are not symmetric). Which of an image
    and its mirror runs is fixed by their hashes (the smaller one), not by which came first, so the
    features of an image do not depend on the cache's history: a resumed run, whose cache starts
    empty, sees the features of the uninterrupted run.

    Memory: ``capacity x D x h x w`` values on the features' device. Once full, new images are
    computed and not stored.

    Args:
        capacity (int): The most images kept (> 0).
        reuse_flip (bool): Serve an image from its cached mirror, as above. Default: False.
    """

    def __init__(self, capacity: int, reuse_flip: bool = False):
        if capacity <= 0:
            raise ValueError(f'FrozenFeatureCache: capacity must be > 0, got {capacity}')
        self.capacity = int(capacity)
        self.reuse_flip = bool(reuse_flip)
        self._store: Dict[bytes, Features] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    def clear(self):
        """Forget every stored image (after the network's weights changed)."""
        self._store.clear()

    @staticmethod
    def key(xi: Tensor) -> bytes:
        """A hash of one image (3, H, W): its shape, dtype and values."""
        return hashlib.blake2b(
            str((tuple(xi.shape), xi.dtype)).encode() +
            xi.detach().contiguous().cpu().numpy().tobytes(), digest_size=16).digest()

    def __call__(self, x: Tensor, compute: Callable[[Tensor], Features]) -> Features:
        """Features of a batch, from the cache where known.

        Args:
            x (Tensor): The images, (B, 3, H, W).
            compute (callable): The frozen network: (N, 3, H, W) -> tuple of (N, D_i, h_i, w_i).
                Called once, under ``torch.no_grad``, on the images not served by the cache.

        Returns:
            tuple[Tensor]: (B, D_i, h_i, w_i) per output of ``compute``.
        """
        keys = [self.key(xi) for xi in x]
        per_sample: List[Optional[Features]] = [self._store.get(key) for key in keys]
        if self.reuse_flip:
            for i, feats in enumerate(per_sample):
                if feats is None:
                    mirrored = self._store.get(self.key(x[i].flip(-1)))
                    if mirrored is not None:
                        per_sample[i] = tuple(o.flip(-1) for o in mirrored)
        missing = [i for i, feats in enumerate(per_sample) if feats is None]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            # with the flip reuse, the one of image and mirror with the smaller hash runs
            mirror = {i: self.reuse_flip and self.key(x[i].flip(-1)) < keys[i] for i in missing}
            inputs = torch.stack([x[i].flip(-1) if mirror[i] else x[i] for i in missing])
            with torch.no_grad():
                outs = compute(inputs)
            for j, i in enumerate(missing):
                feats = tuple(o[j].clone() for o in outs)
                per_sample[i] = tuple(o.flip(-1) for o in feats) if mirror[i] else feats
                if len(self._store) < self.capacity:
                    self._store[self.key(inputs[j]) if mirror[i] else keys[i]] = feats
        return tuple(torch.stack(level) for level in zip(*per_sample))
