import os

import numpy as np
import pytest
from PIL import Image

from mmseg_mctformer.utils.label_dir import FOLDER_KINDS, LabelDir, is_valid_label_png

PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0]]


class _Dataset:
    """Images x_i.png of size (3 + i) x 2; image 1 has no foreground label."""

    metainfo = dict(classes=('background', 'a', 'b'), palette=PALETTE)

    def __init__(self, folder):
        self.infos = []
        for i in range(3):
            path = os.path.join(folder, f'x_{i}.png')
            Image.new('RGB', (3 + i, 2)).save(path)
            self.infos.append(dict(img_path=path, gt_class_labels=[] if i == 1 else [0]))

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, i):
        return self.infos[i]


def test_folder_kinds_name_their_record_and_tool():
    folder = LabelDir.of('affinity_mask', '/tmp/m')
    assert folder.record_file == 'affinity_mask_info.json'
    assert 'make_affinity_masks.py --overwrite' in folder.overwrite_hint
    assert LabelDir.of('pseudo_label', '/tmp/p').record_keys == \
        FOLDER_KINDS['pseudo_label']['record_keys']
    with pytest.raises(KeyError, match="unknown folder kind 'seeds'.*affinity_mask"):
        LabelDir.of('seeds', '/tmp/p')


def test_background_masks_and_maps(tmp_path):
    (tmp_path / 'imgs').mkdir()
    dataset = _Dataset(str(tmp_path / 'imgs'))
    folder = LabelDir.of('pseudo_label', str(tmp_path / 'labels'))
    assert folder.write_background(dataset) == 1
    assert sorted(os.listdir(tmp_path / 'labels')) == ['x_1.png']
    with Image.open(tmp_path / 'labels' / 'x_1.png') as im:
        assert im.mode == 'P' and im.getpalette()[:9] == sum(PALETTE, [])
        np.testing.assert_array_equal(np.array(im), np.zeros((2, 4), np.uint8))
    assert folder.pending(dataset) == [0, 2]
    # a valid mask is kept, an invalid one replaced
    mtime = os.stat(tmp_path / 'labels' / 'x_1.png').st_mtime_ns
    assert folder.write_background(dataset) == 1
    assert os.stat(tmp_path / 'labels' / 'x_1.png').st_mtime_ns == mtime
    (tmp_path / 'labels' / 'x_1.png').write_bytes(b'broken')
    folder.write_background(dataset)
    assert is_valid_label_png(str(tmp_path / 'labels' / 'x_1.png'), (4, 2))
    # .npz maps beside the PNG: with save_logits a mask is done only with them
    folder.save(dataset.infos[0]['img_path'], np.ones((2, 3), np.uint8), PALETTE)
    assert folder.pending(dataset) == [2]
    assert folder.pending(dataset, save_logits=True) == [0, 1, 2]
    path = folder.save_maps(dataset.infos[0]['img_path'], np.array([0]),
                            np.full((1, 2, 3), 0.25, np.float32))
    assert path == str(tmp_path / 'labels' / 'x_0.npz')
    with np.load(path) as f:
        assert f['classes'].tolist() == [0] and f['maps'].dtype == np.float16
    assert folder.pending(dataset, save_logits=True) == [1, 2]


def test_record_with_the_threshold_inside_test_cfg_resumes(tmp_path):
    """A 0.1.0 record (threshold also inside ``test_cfg``) resumes with the same settings and
    is refused when the threshold or another map setting differs."""
    folder = LabelDir.of('pseudo_label', str(tmp_path / 'labels'))
    old = dict(checkpoint='a.pth', bg_threshold=0.45, crf=None, precision=None,
               test_cfg=dict(scales=[1.0], bg_threshold=0.45))
    folder.check(old)
    open(os.path.join(folder.path, 'x.png'), 'wb').close()
    new = dict(old, test_cfg=dict(scales=[1.0]))
    assert folder.check(new) is False
    with pytest.raises(ValueError, match='bg_threshold: 0.45 -> 0.5'):
        folder.check(dict(new, bg_threshold=0.5))
    with pytest.raises(ValueError, match='test_cfg'):
        folder.check(dict(new, test_cfg=dict(scales=[1.0, 0.5])))


def test_record_with_old_test_cfg_value_names_resumes(tmp_path):
    """A record whose test_cfg holds attn_path='fused' (the old name of 'sdpa') was made with
    the same settings: it resumes; another kernel is still refused. The maps record nested in a
    random-walk mask record is compared the same way."""
    folder = LabelDir.of('pseudo_label', str(tmp_path / 'labels'))
    old = dict(checkpoint='a.pth', bg_threshold=0.45, crf=None, precision=None,
               test_cfg=dict(scales=[1.0], attn_path='fused', map_type='fused'))
    folder.check(old)
    open(os.path.join(folder.path, 'x.png'), 'wb').close()
    new = dict(old, test_cfg=dict(scales=[1.0], attn_path='sdpa', map_type='fused'))
    assert folder.differences(old, new) == []
    assert folder.check(new) is False
    assert sorted(os.listdir(folder.path)) == ['pseudo_label_info.json', 'x.png']
    # the alias renames attn_path values only: map_type='fused' is a map, not a kernel
    with pytest.raises(ValueError, match="test_cfg.*'map_type': 'fused'.*'map_type': 'mct'"):
        folder.check(dict(old, test_cfg=dict(old['test_cfg'], map_type='mct')))
    # the message names the old value by its current name
    with pytest.raises(ValueError, match="test_cfg.*'attn_path': 'sdpa'.*'attn_path': 'explicit'"):
        folder.check(dict(old, test_cfg=dict(old['test_cfg'], attn_path='explicit')))
    masks = LabelDir.of('affinity_mask', str(tmp_path / 'masks'))
    maps_old = dict(checkpoint_sha256='s', test_cfg=dict(attn_path='fused'), precision=None)
    record = dict(checkpoint_sha256='c', maps=maps_old, bg_threshold=0.39,
                  test_cfg=dict(beta=8), precision=None)
    assert masks.differences(record, dict(record, maps=dict(maps_old, test_cfg=dict(
        attn_path='sdpa')))) == []
    assert masks.differences(record, dict(record, maps=dict(maps_old, test_cfg=dict(
        attn_path='explicit')))) != []
