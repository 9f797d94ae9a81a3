"""Mask remapping: another numbering or a class subset, hand-checked on small masks."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmseg_mctformer.datasets.converters.remap import parse_mapping, remap_masks
from mmseg_mctformer.datasets.utils import voc_colormap

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
MASK = np.array([[0, 8, 8, 3],
                 [0, 12, 255, 3]], np.uint8)


@pytest.fixture
def src(tmp_path):
    folder = tmp_path / 'src'
    folder.mkdir()
    palette = Image.fromarray(MASK)
    palette.putpalette(sum(voc_colormap(256), []))  # a VOC-style palette PNG
    assert palette.mode == 'P'
    palette.save(folder / 'a.png')
    Image.fromarray(MASK[:, ::-1].copy()).save(folder / 'b.png')
    return str(folder)


def _read(path):
    return np.array(Image.open(path))


def test_class_subset_to_background_and_ignore(src, tmp_path):
    mapping = parse_mapping(['0:0', '8:1', '12:2', '255:255'])
    out = str(tmp_path / 'bg')
    assert remap_masks(src, out, mapping, unmapped='background') == dict(written=2, skipped=0)
    np.testing.assert_array_equal(_read(osp.join(out, 'a.png')),
                                  [[0, 1, 1, 0], [0, 2, 255, 0]])
    np.testing.assert_array_equal(_read(osp.join(out, 'b.png')),
                                  [[0, 1, 1, 0], [0, 255, 2, 0]])
    out = str(tmp_path / 'ignore')
    remap_masks(src, out, mapping, unmapped='ignore', names=['a'])
    np.testing.assert_array_equal(_read(osp.join(out, 'a.png')),
                                  [[0, 1, 1, 255], [0, 2, 255, 255]])
    assert not osp.exists(osp.join(out, 'b.png'))
    # a rerun keeps what is there
    assert remap_masks(src, out, mapping, unmapped='ignore') == dict(written=1, skipped=1)


def test_unmapped_values_and_bad_pairs_are_named(src, tmp_path):
    with pytest.raises(ValueError, match=r'a\.png: values \[3\] are not in the mapping'):
        remap_masks(src, str(tmp_path / 'x'), parse_mapping(['0:0', '8:1', '12:2', '255:255']))
    with pytest.raises(ValueError, match="mapping '8-1': expected OLD:NEW"):
        parse_mapping(['8-1'])
    with pytest.raises(ValueError, match="mapping '8:300': values must lie in 0..255"):
        parse_mapping(['8:300'])
    with pytest.raises(ValueError, match='value 8 is mapped twice'):
        parse_mapping(['8:1', '8:2'])
    with pytest.raises(ValueError, match='is the source folder'):
        remap_masks(src, src, {0: 0})


def test_tool(src, tmp_path):
    spec = importlib.util.spec_from_file_location(
        'remap_masks', osp.join(ROOT, 'tools', 'dataset_converters', 'remap_masks.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    split = tmp_path / 'split.txt'
    split.write_text('b\n\n')
    tool.main([src, str(tmp_path / 'out'), '--map', '0:0', '8:1', '12:2', '255:255', '3:3',
               '--split', str(split)])
    np.testing.assert_array_equal(_read(tmp_path / 'out' / 'b.png'),
                                  [[3, 1, 1, 0], [3, 255, 2, 0]])
