import numpy as np
import pytest
from PIL import Image

from mmseg_mctformer.evaluation import evaluate_mask_dir


class _Dataset:
    metainfo = dict(classes=('background', 'a', 'b'))

    def __init__(self, infos):
        self.infos = infos

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, i):
        return self.infos[i]


def _png(path, array, palette=True):
    im = Image.fromarray(np.array(array, np.uint8))
    if palette:
        im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0])
    im.save(path)


def test_evaluate_mask_dir_hand_computed(tmp_path):
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'pred').mkdir()
    # Same masks as test_seed_metric's image 1 at threshold 0.5: IoU 2/3, 1/2, 1.
    _png(tmp_path / 'gt' / 'x.png', [[1, 2, 0], [0, 255, 1]], palette=False)
    _png(tmp_path / 'pred' / 'x.png', [[1, 2, 0], [0, 0, 0]])
    ds = _Dataset([dict(img_path=str(tmp_path / 'img' / 'x.jpg'),
                        seg_map_path=str(tmp_path / 'gt' / 'x.png'))])
    res = evaluate_mask_dir(ds, str(tmp_path / 'pred'))
    assert res['mIoU'] == 72.22 and res['aAcc'] == 80.0
    assert res['FP'] == pytest.approx(11.11) and res['FN'] == pytest.approx(16.67)
    assert res['IoU_per_class'] == {'background': 66.67, 'a': 50.0, 'b': 100.0}
    assert res['precision'] == pytest.approx(88.89) and res['recall'] == pytest.approx(83.33)
    assert res['recall_per_class'] == {'background': 100.0, 'a': 50.0, 'b': 100.0}
    assert res['num_images'] == 1


def test_evaluate_mask_dir_errors(tmp_path):
    gt = tmp_path / 'gt.png'
    _png(gt, [[0, 1]])
    ds = _Dataset([dict(img_path='/a/y.jpg', seg_map_path=str(gt))])
    with pytest.raises(FileNotFoundError, match='does not exist'):
        evaluate_mask_dir(ds, str(tmp_path / 'nope'))
    with pytest.raises(FileNotFoundError, match='1 of 1 predictions are missing'):
        evaluate_mask_dir(ds, str(tmp_path))
    _png(tmp_path / 'y.png', [[0, 1, 1]])
    with pytest.raises(ValueError, match=r'shape \(1, 3\).*\(1, 2\)'):
        evaluate_mask_dir(ds, str(tmp_path))
    with pytest.raises(KeyError, match='seg_map_path'):
        evaluate_mask_dir(_Dataset([dict(img_path='/a/y.jpg', seg_map_path=None)]),
                          str(tmp_path))
