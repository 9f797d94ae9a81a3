"""MMSeg's test-time augmentation model, keeping the averaged class probabilities."""
from typing import List

from mmengine.structures import PixelData
from mmseg.models import SegTTAModel
from mmseg.registry import MODELS
from mmseg.utils import SampleList


@MODELS.register_module()
class ProbSegTTAModel(SegTTAModel):
    """:class:`mmseg.models.SegTTAModel` whose ``seg_logits`` are the merged prediction's.

    ``SegTTAModel`` averages the softmax of every augmented view into ``pred_sem_seg`` but keeps
    the last view's ``seg_logits``. Here ``seg_logits`` (K, H, W) becomes ``log`` of the averaged
    probabilities (its softmax gives them back), so a post-processor such as the dense CRF of
    :class:`~mmseg_mctformer.evaluation.CRFIoUMetric` refines the multi-scale + flip result.
    Binary heads (one output channel) are left as ``SegTTAModel`` makes them.
    """

    def merge_preds(self, data_samples_list: List[SampleList]) -> SampleList:
        predictions = super().merge_preds(data_samples_list)
        if self.module.out_channels == 1:
            return predictions
        for merged, views in zip(predictions, data_samples_list):
            probs = sum(v.seg_logits.data.softmax(dim=0) for v in views) / len(views)
            merged.set_data({'seg_logits': PixelData(data=probs.clamp_min(1e-12).log())})
        return predictions
