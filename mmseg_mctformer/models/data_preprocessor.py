"""MMSeg's data preprocessor, with an error that names the images of a mixed-size test batch."""
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS


@MODELS.register_module()
class WSSSDataPreProcessor(SegDataPreProcessor):
    """:class:`mmseg.models.SegDataPreProcessor` (same arguments and output) that names the files.

    At test time MMSeg stacks the images of a batch without resizing them and asserts "The image
    size in a batch should be the same."; this subclass raises a ``ValueError`` that lists each
    image with its size and says how to fix it (``batch_size=1`` for datasets of mixed sizes,
    as MMSeg's own test loaders use).
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
