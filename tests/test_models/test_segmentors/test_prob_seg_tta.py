"""ProbSegTTAModel keeps the averaged probabilities of the views as seg_logits."""
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import nn

from mmseg_mctformer.models import ProbSegTTAModel


class _Segmentor(nn.Module):
    out_channels = 2

    def test_step(self, data):
        raise NotImplementedError  # merge_preds alone is tested


def _view(logits):
    s = SegDataSample(metainfo=dict(img_path='x.jpg'))
    s.seg_logits = PixelData(data=torch.tensor(logits))
    return s


def test_prob_seg_tta_keeps_averaged_probabilities():
    model = ProbSegTTAModel(module=_Segmentor())
    # one pixel: view 1 says class 0 (p = 0.88), view 2 says class 1 (p = 0.98)
    views = [_view([[[2.0]], [[0.0]]]), _view([[[0.0]], [[4.0]]])]
    probs = sum(v.seg_logits.data.softmax(0) for v in views) / 2
    merged, = model.merge_preds([views])
    torch.testing.assert_close(merged.seg_logits.data.softmax(0), probs)
    assert merged.pred_sem_seg.data.item() == 1 == int(probs.argmax())
