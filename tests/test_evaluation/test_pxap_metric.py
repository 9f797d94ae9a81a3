"""PxAP / pIoU: hand-computed values on a tiny set written in the wsolevaluation layout."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.registry import DATASETS
from mmseg.structures import SegDataSample
from PIL import Image

from mmseg_mctformer.evaluation import PxAPMetric
from mmseg_mctformer.evaluation.metrics.pxap_metric import (
    normalize_score_map,
    pixel_histograms,
    pxap_and_piou,
    score_thresholds,
)

SIZE = 224
CELL = SIZE // 2  # the masks and maps below are 2 x 2 grids of 112 x 112 cells


def _png(path, cells):
    """A 2 x 2 binary PNG (255 = set): masks may be smaller than their image."""
    Image.fromarray(np.array(cells, dtype=np.uint8) * 255).save(path)


def _write_layout(root):
    """Two val images of 224 x 224: ``cat/a`` (class 0), ``dog/b`` (class 1).

    a: two instances, top-left and top-right cells; its ignore box covers the left column, so
       only the bottom-left cell is ignored (the top-left one is object).
    b: one instance, bottom-right cell; an empty ignore map.
    """
    for cls in ('cat', 'dog'):
        os.makedirs(osp.join(root, 'OpenImages', 'val', cls), exist_ok=True)
    img = Image.fromarray(np.full((SIZE, SIZE, 3), 128, dtype=np.uint8))
    img.save(osp.join(root, 'OpenImages/val/cat/a.jpg'))
    img.save(osp.join(root, 'OpenImages/val/dog/b.jpg'))
    _png(osp.join(root, 'OpenImages/val/cat/a_mcat_0001.png'), [[1, 0], [0, 0]])
    _png(osp.join(root, 'OpenImages/val/cat/a_mcat_0002.png'), [[0, 1], [0, 0]])
    _png(osp.join(root, 'OpenImages/val/cat/a_ignore.png'), [[1, 0], [1, 0]])
    _png(osp.join(root, 'OpenImages/val/dog/b_mdog_0003.png'), [[0, 0], [0, 1]])
    _png(osp.join(root, 'OpenImages/val/dog/b_ignore.png'), [[0, 0], [0, 0]])
    meta = osp.join(root, 'metadata', 'OpenImages', 'val')
    os.makedirs(meta)
    with open(osp.join(meta, 'image_ids.txt'), 'w') as f:
        f.write('val/cat/a.jpg\nval/dog/b.jpg\n')
    with open(osp.join(meta, 'class_labels.txt'), 'w') as f:
        f.write('val/cat/a.jpg,0\nval/dog/b.jpg,1\n')
    with open(osp.join(meta, 'localization.txt'), 'w') as f:
        f.write('val/cat/a.jpg,val/cat/a_mcat_0001.png,val/cat/a_ignore.png\n'
                'val/cat/a.jpg,val/cat/a_mcat_0002.png,\n'
                'val/dog/b.jpg,val/dog/b_mdog_0003.png,val/dog/b_ignore.png\n')


# GT-class maps (2 x 2 cells). a: already in [0, 1]; b: raw values normalised by the metric
# to (x - 0.2) / 0.5 = [[0, 1], [0.5, 0.72]].
MAP_A = [[1.0, 0.2], [0.9, 0.0]]
MAP_B = [[0.2, 0.7], [0.45, 0.56]]
# Hand computation, in cells (every cell is 112 x 112 pixels, so pixel ratios equal cell ratios).
# Object cells: a(0,0)=1.0, a(0,1)=0.2, b(1,1)=0.72 -> 3. Background cells: a(1,1)=0.0,
# b(0,0)=0.0, b(0,1)=1.0, b(1,0)=0.5 -> 4. a(1,0)=0.9 is ignored.
#   threshold   TP FP FN  precision recall  IoU
#   1.0          1  1  2    1/2      1/3    1/4
#   0.72         2  1  1    2/3      2/3    2/4
#   0.5          2  2  1    1/2      2/3    2/5
#   0.2          3  2  0    3/5      1      3/5   <- best IoU
#   0.0          3  4  0    3/7      1      3/7
# PxAP = 1/2 * 1/3 + 2/3 * 1/3 + 3/5 * 1/3 = 53/90; pIoU = 3/5.
PXAP = 100 * 53 / 90
PIOU = 60.0


def _blocks(cells, cell=CELL):
    return torch.tensor(cells, dtype=torch.float32).repeat_interleave(cell, 0) \
        .repeat_interleave(cell, 1)


def _predict(packed, gt_map_cells, cell=CELL):
    """What the segmentor returns: seg_logits (C + 1, H, W), GT-class channel = the map."""
    sample = packed['data_samples']
    c = int(torch.nonzero(sample.gt_class_labels).item())
    logits = torch.rand(3, 2 * cell, 2 * cell)  # background and other classes: never read
    logits[c + 1] = _blocks(gt_map_cells, cell)
    sample.seg_logits = PixelData(data=logits)
    return sample.to_dict()


def _dataset(root):
    pipeline = [
        dict(type='LoadCheckedImageFromFile'),
        dict(type='LoadWSOLAnnotations'),
        dict(type='PackWSSSInputs'),
    ]
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(dict(type='OpenImagesWSOLDataset', data_root=root, split='val',
                                   pipeline=pipeline, test_mode=True))


def test_pxap_piou_on_tiny_wsol_layout_match_hand_computation(tmp_path):
    _write_layout(str(tmp_path))
    dataset = _dataset(str(tmp_path))
    assert dataset.metainfo['classes'] == ('background', 'cat', 'dog')
    samples = [_predict(dataset[0], MAP_A), _predict(dataset[1], MAP_B)]
    gt_a = samples[0]['gt_sem_seg']['data'][0]
    assert gt_a.shape == (SIZE, SIZE)
    assert torch.equal(gt_a[::CELL, ::CELL], torch.tensor([[1, 1], [255, 0]]))

    metric = PxAPMetric()
    metric.dataset_meta = dataset.metainfo
    metric.process({}, samples)
    out = metric.evaluate(len(samples))
    assert out['wsol/PxAP'] == round(PXAP, 2) == 58.89
    assert out['wsol/pIoU'] == PIOU
    assert out['wsol/pIoU_threshold'] == pytest.approx(0.2)
    assert out['wsol/num_pairs'] == 2

    # maps at another size are resized to 224 x 224 (nearest here, so the numbers stay exact)
    metric = PxAPMetric(interpolation='nearest')
    metric.process({}, [_predict(dataset[0], MAP_A, cell=7), _predict(dataset[1], MAP_B, cell=7)])
    out = metric.evaluate(2)
    assert (out['wsol/PxAP'], out['wsol/pIoU']) == (58.89, PIOU)


def test_ignore_pixels_are_excluded(tmp_path):
    _write_layout(str(tmp_path))
    dataset = _dataset(str(tmp_path))
    # without the ignore map, the bottom-left cell of image a (0.9) is one more background cell:
    # TP/FP = 1/1 at 1.0, 1/2 at 0.9, 2/2 at 0.72, 2/3 at 0.5, 3/3 at 0.2, 3/5 at 0.0
    metric = PxAPMetric(ignore_index=254)  # 255 is then an ordinary background value
    metric.process({}, [_predict(dataset[0], MAP_A), _predict(dataset[1], MAP_B)])
    out = metric.evaluate(2)
    # recall rises at 1.0, 0.72, 0.2 with precision 1/2, 2/4, 3/6; best IoU 3 / 6 at 0.2
    assert out['wsol/PxAP'] == round(100 * (1 / 6 + 1 / 6 + 1 / 6), 2)
    assert out['wsol/pIoU'] == 50.0


def test_pxap_and_piou_match_a_direct_threshold_sweep():
    rng = np.random.default_rng(0)
    thresholds = score_thresholds(0.01)
    scores = rng.random(500).astype(np.float32)
    scores[:20] = 1.0
    positive = rng.random(500) < scores * 0.8
    negative = ~positive & (rng.random(500) < 0.9)
    pos_hist, neg_hist = pixel_histograms(scores, positive, negative, thresholds)
    assert pos_hist.sum() == positive.sum() and neg_hist.sum() == negative.sum()
    got = pxap_and_piou(pos_hist, neg_hist, thresholds)

    points = np.append(thresholds, 1.0)[::-1]
    pxap, prev_recall, ious = 0.0, 0.0, []
    for t in points:
        tp = np.sum(positive & (scores >= t))
        fp = np.sum(negative & (scores >= t))
        fn = positive.sum() - tp
        recall = tp / positive.sum()
        if tp + fp:
            pxap += tp / (tp + fp) * (recall - prev_recall)
        prev_recall = recall
        ious.append(tp / (tp + fp + fn))
    assert got['PxAP'] == pytest.approx(100 * pxap)
    assert got['pIoU'] == pytest.approx(100 * max(ious))
    assert got['pIoU_threshold'] == pytest.approx(points[int(np.argmax(ious))])


def test_perfect_and_constant_maps():
    thresholds = score_thresholds()
    assert len(thresholds) == 1000
    gt = np.array([True, True, False, False])
    perfect = pxap_and_piou(*pixel_histograms(np.array([1.0, 0.6, 0.3, 0.0]), gt, ~gt,
                                              thresholds), thresholds)
    assert (perfect['PxAP'], perfect['pIoU']) == (100.0, 100.0)
    # a constant map becomes 0 everywhere: one operating point, precision = object fraction
    flat = normalize_score_map(torch.full((2, 2), 0.4))
    assert torch.equal(flat, torch.zeros(2, 2))
    const = pxap_and_piou(*pixel_histograms(flat.flatten().numpy(), gt, ~gt, thresholds),
                          thresholds)
    assert (const['PxAP'], const['pIoU']) == (50.0, 50.0)
    assert torch.allclose(normalize_score_map(torch.tensor([[2.0, 4.0], [3.0, 2.5]])),
                          torch.tensor([[0.0, 1.0], [0.5, 0.25]]))


def test_multi_label_sample_counts_each_class_once():
    # 1 x 2 image, classes 0 (left pixel) and 1 (right pixel), perfect maps for both
    s = SegDataSample()
    s.seg_logits = PixelData(data=torch.tensor([[[0.5, 0.5]], [[1.0, 0.0]], [[0.0, 1.0]]]))
    s.gt_sem_seg = PixelData(data=torch.tensor([[[1, 2]]]))
    s.gt_class_labels = torch.tensor([1, 1])
    metric = PxAPMetric(size=None)
    metric.process({}, [s.to_dict()])
    out = metric.evaluate(1)
    assert (out['wsol/PxAP'], out['wsol/pIoU'], out['wsol/num_pairs']) == (100.0, 100.0, 2)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match='cam_curve_interval'):
        PxAPMetric(cam_curve_interval=0)
    with pytest.raises(ValueError, match='size'):
        PxAPMetric(size=(224, ))
    with pytest.raises(ValueError, match='interpolation'):
        PxAPMetric(interpolation='lanczos')
    s = SegDataSample()
    s.seg_logits = PixelData(data=torch.zeros(2, 2, 2))
    s.gt_sem_seg = PixelData(data=torch.zeros(1, 2, 2, dtype=torch.long))
    metric = PxAPMetric()
    with pytest.raises(KeyError, match='gt_class_labels'):
        metric.process({}, [s.to_dict()])
    s.gt_class_labels = torch.tensor([1, 0])
    with pytest.raises(ValueError, match=r'C = 2'):
        metric.process({}, [s.to_dict()])
    with pytest.raises(ValueError, match='no positive'):
        pxap_and_piou(np.zeros(3, np.int64), np.ones(3, np.int64), np.array([0.0, 0.5]))
