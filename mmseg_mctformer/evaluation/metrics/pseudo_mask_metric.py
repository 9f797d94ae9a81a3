"""Write predicted masks as label PNGs (atomically) and optionally score them.

The mask writer of the affinity stage, driven by ``Runner.test()`` like MMSeg's
``IoUMetric(format_only=True, output_dir=...)``.
"""
from typing import Optional, Sequence

from mmengine.logging import print_log
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS

from ...utils.label_dir import LabelDir, dataset_palette


@METRICS.register_module()
class PseudoMaskMetric(IoUMetric):
    """:class:`mmseg.evaluation.IoUMetric` whose ``output_dir`` files are palette PNGs written
    atomically.

    Each prediction's ``pred_sem_seg`` (0 = background, c + 1 = class c) becomes
    ``{output_dir}/{image basename}.png`` through
    :meth:`mmseg_mctformer.utils.label_dir.LabelDir.save` (dataset palette,
    temporary file then ``os.replace``), so an interrupted run leaves no partial file. Every rank
    writes the images of its own shard (``Runner.test`` with the default sampler); a padding
    duplicate rewrites the same file. With ``format_only=False`` the masks are also scored
    against ``gt_sem_seg`` as ``IoUMetric`` does (only the images this run predicted).
    :func:`mmseg_mctformer.cli.affinity_tools.make_affinity_masks` runs it on the images whose
    PNG is missing (resume).

    Args:
        output_dir (str, optional): Folder of the PNGs; None writes nothing. Default: None.
        format_only (bool): Only write, do not score. Default: False.
        **kwargs: Other arguments of ``IoUMetric`` (``ignore_index``, ``iou_metrics``, ...).
    """

    def __init__(self, output_dir: Optional[str] = None, format_only: bool = False,
                 **kwargs) -> None:
        if format_only and not output_dir:
            raise ValueError('PseudoMaskMetric: format_only=True needs an output_dir to write to')
        super().__init__(output_dir=output_dir, format_only=format_only, **kwargs)
        self.written = 0  # masks this process wrote since the last evaluate()

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Write (and score) the masks of one batch."""
        num_classes = len(self.dataset_meta['classes'])
        palette = dataset_palette(self.dataset_meta, 'PseudoMaskMetric')
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze(0)  # (H, W)
            if not self.format_only:
                if 'gt_sem_seg' not in sample:
                    raise KeyError(f'PseudoMaskMetric: {sample.get("img_path")} has no '
                                   'gt_sem_seg to score against; add LoadAnnotations or set '
                                   'format_only=True')
                label = sample['gt_sem_seg']['data'].squeeze(0).to(pred)
                self.results.append(
                    self.intersect_and_union(pred, label, num_classes, self.ignore_index))
            if self.output_dir is not None:
                LabelDir.of('affinity_mask', self.output_dir).save(
                    sample['img_path'], pred.cpu().numpy(), palette)
                self.written += 1

    def evaluate(self, size: int) -> dict:
        """Score the masks as ``IoUMetric`` does; with ``format_only``, log how many masks this
        process wrote and where, and return ``{}`` (``IoUMetric`` would warn of empty results
        and name the parent of ``output_dir``)."""
        written, self.written = self.written, 0
        if not self.format_only:
            return super().evaluate(size)
        print_log(f'PseudoMaskMetric: wrote {written} masks to {self.output_dir}',
                  logger='current')
        return {}
