"""MMSeg's data preprocessor: errors that name the images, and one-batch work when training."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.compat import channel_conversion


@MODELS.register_module()
class WSSSDataPreProcessor(SegDataPreProcessor):
    """:class:`mmseg.models.SegDataPreProcessor` (same arguments and output) that names the files
    and treats a training batch of image-level samples as one tensor.

    - Test time: MMSeg stacks the images of a batch without resizing them and asserts "The image
      size in a batch should be the same."; this subclass raises a ``ValueError`` that lists each
      image with its size and says how to fix it (``batch_size=1`` for datasets of mixed sizes,
      as MMSeg's own test loaders use).
    - Training, when every image has the same size and the samples carry only
      ``gt_class_labels`` (the MCTformer crops): the images are stacked on the host and copied
      to the device once, the labels likewise (each sample keeps a row of the copied tensor),
      and the channel swap, normalisation and padding run once on the batch. MMSeg's path does
      all of that image by image: about 6 operators an image (190 kernel launches a step at
      batch 32 on a GPU). Same values, shapes and metainfo as MMSeg's path (tested); any other
      batch goes through MMSeg's path.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        if not training:
            inputs = data['inputs']
            sizes = [tuple(x.shape[1:]) for x in inputs]
            if len(set(sizes)) > 1:
                samples = data.get('data_samples') or [None] * len(inputs)
                names = [s.metainfo.get('img_path', f'image {i}') if s is not None else
                         f'image {i}' for i, s in enumerate(samples)]
                listed = ', '.join(f'{n} {hw}' for n, hw in zip(names, sizes))
                raise ValueError(f'{type(self).__name__}: a test batch holds images of different '
                                 f'sizes (H, W): {listed}; use batch_size=1 in the test / val '
                                 'dataloader, or resize the images in its pipeline')
            return super().forward(data, training)
        batched = self._train_batch(data)
        return batched if batched is not None else super().forward(data, training)

    def _padding(self, hw) -> Optional[tuple]:
        """``stack_batch``'s ``(left, right, top, bottom)`` padding of a batch of one size ``hw``;
        None where ``stack_batch`` would refuse the settings (MMSeg's path raises then)."""
        if (self.size is None) == (self.size_divisor is None):
            return None
        h, w = hw
        if self.size is not None:
            th, tw = self.size[-2:]
        else:
            div = self.size_divisor
            th, tw = ((h + div - 1) // div * div, (w + div - 1) // div * div) if div > 1 else (h, w)
        return (0, max(tw - w, 0), 0, max(th - h, 0))

    def _train_batch(self, data: dict) -> Optional[dict]:
        """The batched training path; None when the batch does not qualify (see the class).

        Args:
            data (dict): ``inputs``: list of B images (3, H, W) (uint8 from the loader);
                ``data_samples``: B samples with ``gt_class_labels`` (C,).

        Returns:
            dict | None: ``inputs`` (B, 3, H', W') float32 on the device, normalised and padded;
            ``data_samples`` with the labels on the device and ``img_shape`` / ``pad_shape`` /
            ``padding_size`` metainfo as ``stack_batch`` sets them.
        """
        inputs, samples = data.get('inputs'), data.get('data_samples')
        if (not isinstance(inputs, (list, tuple)) or not inputs or samples is None
                or len(samples) != len(inputs)
                or not all(isinstance(x, Tensor) and x.dim() == 3 for x in inputs)
                or len({tuple(x.shape) for x in inputs}) != 1):
            return None
        if any(set(s.keys()) != {'gt_class_labels'} for s in samples):
            return None  # masks to pad, or no labels (the model names the sample)
        labels = [s.gt_class_labels for s in samples]
        if (not all(isinstance(y, Tensor) for y in labels)
                or len({tuple(y.shape) for y in labels}) != 1):
            return None
        padding = self._padding(inputs[0].shape[-2:])
        if padding is None:
            return None
        images, labels = self.cast_data([torch.stack(list(inputs)), torch.stack(labels)])
        for sample, row in zip(samples, labels):
            sample.gt_class_labels = row
        if channel_conversion(self) and images.size(1) == 3:
            images = images[:, [2, 1, 0]]
        images = images.float()
        if self._enable_normalize:
            images = (images - self.mean) / self.std
        img_shape = images.shape[-2:]
        if any(padding):
            images = F.pad(images, padding, value=self.pad_val)
        for sample in samples:
            sample.set_metainfo(dict(img_shape=img_shape, pad_shape=None, padding_size=padding))
        if self.batch_augments is not None:
            images, samples = self.batch_augments(images, samples)
        return dict(inputs=images, data_samples=samples)
