"""The affinity stage end to end on a tiny model: training from maps, resumable mask writing, and
the pipeline's affinity / masks stages and table row."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.apis.affinity_tools import make_affinity_masks, set_maps_dir
from mmseg_mctformer.apis.pipeline import WSSSPipeline
from mmseg_mctformer.datasets.utils import read_mask

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_AFF = osp.join(ROOT, 'tests', 'data', 'tiny_affinity_demo.py')
TINY_CFG = osp.join(ROOT, 'tests', 'data', 'tiny_mctformer_demo.py')
TINY_SEG = osp.join(ROOT, 'tests', 'data', 'tiny_deeplab_demo.py')


@pytest.fixture(scope='module')
def maps_dir(tiny_demo_root, tmp_path_factory):
    """Stage-1-like maps of the tiny train split: GT masks blurred by a 5 x 5 box (as .npz)."""
    out = tmp_path_factory.mktemp('maps')
    names = open(osp.join(tiny_demo_root, 'ImageSets/Segmentation/train_aug.txt')).read().split()
    for name in names:
        gt = read_mask(osp.join(tiny_demo_root, 'SegmentationClassAug', name + '.png'))
        classes = np.array(sorted(set(np.unique(gt).tolist()) - {0, 255}), dtype=np.int64) - 1
        maps = []
        for c in classes:
            m = np.pad((gt == c + 1).astype(np.float32), 2)
            maps.append(sum(m[dy:dy + gt.shape[0], dx:dx + gt.shape[1]]
                            for dy in range(5) for dx in range(5)) / 25)
        np.savez(out / f'{name}.npz', classes=classes,
                 maps=np.array(maps, dtype=np.float16).reshape(len(classes), *gt.shape))
        (out / f'{name}.png').write_bytes(b'')  # the seed PNG beside the maps
    return str(out)


def _options(root, keys=('train_dataloader', 'test_dataloader')):
    return {f'{k}.dataset.data_root': root for k in keys}


STAGE1_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader',
                  'pseudo_label_dataloader')


def test_set_maps_dir():
    cfg = Config.fromfile(TINY_AFF)
    assert set_maps_dir(cfg, '/maps') == 2
    assert cfg.train_dataloader.dataset.pipeline[1].maps_dir == '/maps'
    with pytest.raises(KeyError, match='LoadLocalizationMaps'):
        set_maps_dir(Config(dict(train_dataloader=dict(dataset=dict(pipeline=[])))), '/maps')


def test_pipeline_affinity_stages_and_resumable_masks(tiny_demo_root, maps_dir, tmp_path):
    # every stage reads the tiny data (the stage-1 config too: the masks stage completes the
    # all-background masks from its train split)
    pipeline = WSSSPipeline(TINY_CFG, TINY_SEG, str(tmp_path / 'pipe'), aff_config=TINY_AFF,
                            cfg_options=_options(tiny_demo_root, STAGE1_LOADERS),
                            aff_cfg_options=_options(tiny_demo_root))
    pipeline.state = dict(stage1=dict(checkpoint='unused'), seeds=dict(best_threshold=0.4),
                          pseudo_labels=dict(out_dir=maps_dir), pseudo_eval=dict(pseudo_mIoU=50.))
    pipeline._finish('affinity', pipeline._run_affinity())
    assert osp.isfile(pipeline.state['affinity']['checkpoint'])
    pipeline._finish('masks', pipeline._run_masks())
    masks = pipeline.state['masks']
    names = sorted(n for n in os.listdir(masks['out_dir']) if n.endswith('.png'))
    assert len(names) == 16 and 0 <= masks['mask_mIoU'] <= 100
    assert read_mask(osp.join(masks['out_dir'], names[0])).shape == (32, 32)
    rows = {r['key']: r for r in pipeline.table()}
    assert rows['mask_mIoU']['ours'] == masks['mask_mIoU']
    assert rows['mask_mIoU']['paper_voc'] is None  # demo data (VOC: test_pipeline_table.py)

    # resume: a deleted mask and a stale temporary file; only the missing mask is written
    cfg = pipeline._aff_cfg()
    os.remove(osp.join(masks['out_dir'], names[0]))
    open(osp.join(masks['out_dir'], '.x.png.tmp'), 'w').close()
    again = make_affinity_masks(cfg, pipeline.state['affinity']['checkpoint'], masks['out_dir'])
    assert (again['written'], again['skipped']) == (1, 15)
    assert again['mIoU'] == pytest.approx(masks['mask_mIoU'])
    assert not [n for n in os.listdir(masks['out_dir']) if n.startswith('.')]
