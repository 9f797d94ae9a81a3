import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_mctformer.visualization import LocalizationMapVisualizer


def _sample(gt=False):
    maps = torch.zeros(3, 10, 12)
    maps[0] = 0.4
    maps[2, :, :6] = 0.9
    s = SegDataSample()
    s.seg_logits = PixelData(data=maps)
    s.pred_sem_seg = PixelData(data=maps.argmax(0, keepdim=True))
    s.kept_classes = torch.tensor([False, True])
    if gt:
        s.gt_sem_seg = PixelData(data=torch.ones(1, 10, 12, dtype=torch.long))
    return s


def test_draw_maps_panels(tmp_path):
    vis = LocalizationMapVisualizer.get_instance(
        'test_map_vis', classes=['background', 'a', 'b'],
        palette=[[0, 0, 0], [255, 0, 0], [0, 255, 0]], alpha=0.6)
    assert vis.dataset_meta['classes'] == ['background', 'a', 'b']  # not swapped
    img = np.full((10, 12, 3), 100, np.uint8)
    strip = vis.draw_maps(img, _sample())
    assert strip.shape == (10, 36, 3)  # image | seed | one kept class
    np.testing.assert_array_equal(strip[:, :12], img)
    assert strip[9, 12].tolist() == [40, 193, 40]  # class b: 0.4 * 100 + 0.6 * 255 in green
    assert strip[9, 21].tolist() == [40, 40, 40]  # background (black) overlay
    hot, cold = strip[9, 26], strip[9, 34]  # heatmap of b: high on the left, zero on the right
    assert hot[0] > hot[2] and cold[2] > cold[0]
    out_file = tmp_path / 'x.jpg'
    strip = vis.add_maps('x', img, _sample(gt=True), out_file=str(out_file))
    assert strip.shape == (10, 48, 3) and out_file.is_file()


def test_draw_maps_errors():
    vis = LocalizationMapVisualizer.get_instance(
        'test_map_vis_err', classes=['background', 'a', 'b'],
        palette=[[0, 0, 0], [255, 0, 0], [0, 255, 0]])
    with pytest.raises(ValueError, match=r'do not match the image \(5, 5\)'):
        vis.draw_maps(np.zeros((5, 5, 3), np.uint8), _sample())
    with pytest.raises(KeyError, match='no seg_logits'):
        vis.draw_maps(np.zeros((10, 12, 3), np.uint8), SegDataSample())
