"""Transforms of the affinity stage: loading maps, affinity labels, packing."""
import numpy as np
import pytest

from mmseg_mctformer.datasets.transforms import (
    GenerateAffinityLabel,
    LoadLocalizationMaps,
    PackAffinityInputs,
    alpha_threshold,
)


def _write_maps(path, classes, maps):
    np.savez_compressed(path, classes=np.array(classes, dtype=np.int64),
                        maps=np.asarray(maps, dtype=np.float16))


def test_alpha_threshold():
    assert alpha_threshold(1) == pytest.approx(0.5, abs=1e-5)
    m = alpha_threshold(12)
    assert m == pytest.approx((1 - m)**12, abs=1e-5)
    assert 0.147 < m < 0.148


def test_load_localization_maps(tmp_path):
    _write_maps(tmp_path / 'img_0.npz', [2], np.full((1, 2, 3), 0.5))
    results = dict(img_path='/x/img_0.jpg', ori_shape=(2, 3), num_classes=4)
    out = LoadLocalizationMaps(str(tmp_path))(results)['loc_maps']
    assert out.shape == (4, 2, 3) and out.dtype == np.float32
    assert (out[2] == 0.5).all() and (out[[0, 1, 3]] == 0).all()
    with pytest.raises(ValueError, match=r'expected \(1, 5, 3\)'):
        LoadLocalizationMaps(str(tmp_path))(dict(results, ori_shape=(5, 3)))
    with pytest.raises(ValueError, match='outside 0..1'):
        LoadLocalizationMaps(str(tmp_path), num_classes=2)(dict(results))
    with pytest.raises(FileNotFoundError, match='img_1.npz'):
        LoadLocalizationMaps(str(tmp_path))(dict(results, img_path='img_1.jpg'))


def test_generate_affinity_label_two_thresholds():
    maps = np.zeros((3, 1, 5), dtype=np.float32)
    maps[1] = [0.9, 0.6, 0.3, 0.1, 0.0]
    maps[2] = [0.0, 0.7, 0.0, 0.0, 0.0]
    results = GenerateAffinityLabel(low_alpha=1, high_alpha=12)(dict(loc_maps=maps))
    # fg above 0.5 (best class), bg below 0.147, the rest ignored
    assert results['gt_seg_map'].tolist() == [[2, 3, 255, 0, 0]]
    assert results['seg_fields'] == ['gt_seg_map']
    none = GenerateAffinityLabel()(dict(loc_maps=np.zeros((3, 1, 2), np.float32)))
    assert none['gt_seg_map'].tolist() == [[0, 0]]
    with pytest.raises(ValueError, match='low_alpha'):
        GenerateAffinityLabel(low_alpha=12, high_alpha=1)


def test_pack_affinity_inputs_packs_maps():
    maps = np.random.rand(2, 4, 5).astype(np.float32)
    results = dict(img=np.zeros((4, 5, 3), np.uint8), loc_maps=maps, gt_class_labels=[1],
                   num_classes=2, img_path='a.jpg', ori_shape=(4, 5), img_shape=(4, 5))
    sample = PackAffinityInputs()(results)['data_samples']
    assert sample.loc_maps.data.shape == (2, 4, 5)
    assert np.allclose(sample.loc_maps.data.numpy(), maps)
    assert sample.gt_class_labels.tolist() == [0, 1]


def test_generate_affinity_label_crf_when_available():
    from mmseg_mctformer.models.utils.crf import crf_available
    maps = np.zeros((2, 8, 8), dtype=np.float32)
    maps[1, 2:6, 2:6] = 0.9
    img = np.zeros((8, 8, 3), dtype=np.uint8)
    img[2:6, 2:6] = 200
    transform = GenerateAffinityLabel(crf=dict())
    label = transform(dict(loc_maps=maps, img=img))['gt_seg_map']
    # with or without pydensecrf (skipped with a warning) the object is fg, far pixels bg
    assert label[3, 3] == 2 and label[0, 0] == 0
    assert transform._crf_on == crf_available()
