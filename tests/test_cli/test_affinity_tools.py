"""The affinity stage end to end on a tiny model: training from maps, resumable mask writing, and
the pipeline's affinity / masks stages and table row."""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.config import Config

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.cli import make_affinity_masks, set_maps_dir
from mmseg_mctformer.datasets.utils import read_mask
from mmseg_mctformer.pipeline import WSSSPipeline

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
    # the record of the stage-1 writer (tools/make_pseudo_labels.py --save-logits)
    (out / 'pseudo_label_info.json').write_text(json.dumps(
        dict(checkpoint='stage1.pth (fake)', checkpoint_sha256=STAGE1_SHA, test_cfg={})))
    return str(out)


def _options(root, keys=('train_dataloader', 'test_dataloader')):
    return {f'{k}.dataset.data_root': root for k in keys}


STAGE1_SHA = 'f' * 64
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
    pipeline.state = dict(stage1=dict(checkpoint='unused', checkpoint_sha256=STAGE1_SHA),
                          seeds=dict(best_threshold=0.4),
                          pseudo_labels=dict(out_dir=maps_dir), pseudo_eval=dict(pseudo_mIoU=50.))
    pipeline._finish('affinity', pipeline.run_stage('affinity'))
    assert osp.isfile(pipeline.state['affinity']['checkpoint'])
    pipeline._finish('masks', pipeline.run_stage('masks'))
    masks = pipeline.state['masks']
    names = sorted(n for n in os.listdir(masks['out_dir']) if n.endswith('.png'))
    assert len(names) == 16 and 0 <= masks['mask_mIoU'] <= 100
    assert read_mask(osp.join(masks['out_dir'], names[0])).shape == (32, 32)
    rows = {r['key']: r for r in pipeline.table()}
    assert rows['mask_mIoU']['ours'] == masks['mask_mIoU']
    assert rows['mask_mIoU']['paper_voc'] is None  # demo data (VOC: test_pipeline_table.py)

    # resume: a deleted mask and a stale temporary file; only the missing mask is written
    cfg = pipeline.aff_cfg()
    os.remove(osp.join(masks['out_dir'], names[0]))
    open(osp.join(masks['out_dir'], '.x.png.tmp'), 'w').close()
    again = make_affinity_masks(cfg, pipeline.state['affinity']['checkpoint'], masks['out_dir'])
    assert (again['written'], again['skipped']) == (1, 15)
    assert again['mIoU'] == pytest.approx(masks['mask_mIoU'])
    assert not [n for n in os.listdir(masks['out_dir']) if n.startswith('.')]


@pytest.fixture(scope='module')
def aff_checkpoints(tmp_path_factory):
    """Two AffinityNet checkpoints of the tiny config (random weights, two seeds) and a
    DeepLab-like one (another architecture)."""
    import torch
    from mmseg.registry import MODELS
    out = tmp_path_factory.mktemp('aff_ckpt')
    cfg = Config.fromfile(TINY_AFF)
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = MODELS.build(cfg.model)
        paths.append(str(out / f'aff_{seed}.pth'))
        torch.save(dict(state_dict=model.state_dict(), meta={}), paths[-1])
    paths.append(str(out / 'deeplab.pth'))
    torch.save(dict(state_dict={'decode_head.conv_seg.weight': torch.zeros(7, 8, 1, 1),
                                'backbone.context_path.cls_token': torch.zeros(1, 1, 32)}),
               paths[-1])
    return paths


def _aff_cfg(root, maps):
    cfg = Config.fromfile(TINY_AFF)
    cfg.merge_from_dict(_options(root))
    cfg.work_dir = osp.join(osp.dirname(maps), 'aff_work')
    set_maps_dir(cfg, maps)
    return cfg


def _pngs(folder):
    return {n: os.stat(osp.join(folder, n)).st_mtime_ns for n in os.listdir(folder)
            if n.endswith('.png')}


def test_mask_folder_refuses_other_settings(tiny_demo_root, maps_dir, aff_checkpoints,
                                            tmp_path):
    """A rerun into a mask folder with another threshold, checkpoint or maps is refused (not
    "0 written" and the old masks' mIoU); --overwrite regenerates; a wrong architecture is
    refused before anything is written."""
    cfg = _aff_cfg(tiny_demo_root, maps_dir)
    out = str(tmp_path / 'masks')
    first = make_affinity_masks(cfg, aff_checkpoints[0], out, bg_threshold=0.4, evaluate=False)
    assert (first['written'], first['skipped']) == (16, 0)
    record = json.loads(open(osp.join(out, 'affinity_mask_info.json')).read())
    assert record['bg_threshold'] == 0.4 and record['maps']['checkpoint_sha256'] == STAGE1_SHA
    assert 'precision' not in record  # float32
    written = _pngs(out)
    with pytest.raises(ValueError, match=r'bg_threshold: 0.4 -> 0.6.*--overwrite'):
        make_affinity_masks(cfg, aff_checkpoints[0], out, bg_threshold=0.6)
    with pytest.raises(ValueError, match='checkpoint_sha256'):
        make_affinity_masks(cfg, aff_checkpoints[1], out, bg_threshold=0.4)
    # maps of another stage-1 checkpoint
    other_maps = str(tmp_path / 'other_maps')
    shutil.copytree(maps_dir, other_maps)
    with open(osp.join(other_maps, 'pseudo_label_info.json'), 'w') as f:
        json.dump(dict(checkpoint='other.pth', checkpoint_sha256='0' * 64, test_cfg={}), f)
    with pytest.raises(ValueError, match="maps: .*'0000"):
        make_affinity_masks(_aff_cfg(tiny_demo_root, other_maps), aff_checkpoints[0], out,
                            bg_threshold=0.4)
    # mixed precision is another setting (tools/make_affinity_masks.py --amp)
    with pytest.raises(ValueError, match="precision: None -> 'mixed"):
        make_affinity_masks(cfg, aff_checkpoints[0], out, bg_threshold=0.4, fp16=True)
    assert _pngs(out) == written  # nothing rewritten by the refused runs
    # same settings: resumed, nothing to write
    again = make_affinity_masks(cfg, aff_checkpoints[0], out, bg_threshold=0.4, evaluate=False)
    assert (again['written'], again['skipped']) == (0, 16)
    # --overwrite: the folder is regenerated with the new settings
    new = make_affinity_masks(cfg, aff_checkpoints[0], out, bg_threshold=0.6, evaluate=False,
                              overwrite=True)
    assert new['written'] == 16
    assert json.loads(open(osp.join(out, 'affinity_mask_info.json')).read())['bg_threshold'] \
        == 0.6
    # a checkpoint of another architecture: refused, no mask written
    wrong = str(tmp_path / 'wrong')
    with pytest.raises(ValueError, match=r'deeplab.pth does not fit .*AffinityNet.*0 of its'):
        make_affinity_masks(cfg, aff_checkpoints[2], wrong, evaluate=False)
    assert not _pngs(wrong)


def test_pipeline_refuses_maps_of_another_stage1_checkpoint(tiny_demo_root, maps_dir, tmp_path):
    """The maps' record names another stage-1 checkpoint than the pipeline state: the affinity
    and masks stages refuse them (before any training or writing)."""
    pipeline = WSSSPipeline(TINY_CFG, TINY_SEG, str(tmp_path / 'pipe'), aff_config=TINY_AFF,
                            cfg_options=_options(tiny_demo_root, STAGE1_LOADERS),
                            aff_cfg_options=_options(tiny_demo_root))
    pipeline.state = dict(stage1=dict(checkpoint='other.pth', checkpoint_sha256='0' * 64),
                          seeds=dict(best_threshold=0.4), pseudo_labels=dict(out_dir=maps_dir),
                          affinity=dict(checkpoint='aff.pth', checkpoint_sha256='1' * 64))
    for stage in ('affinity', 'masks'):
        with pytest.raises(ValueError, match=rf'pipeline {stage} stage: the maps in .* were '
                           rf'written by stage1.pth \(fake\) \(SHA-256 {STAGE1_SHA}\), expected '
                           r'the stage-1 checkpoint with SHA-256 0000'):
            pipeline.run_stage(stage)
    assert not osp.exists(tmp_path / 'pipe' / 'affinity')
    assert not osp.exists(tmp_path / 'pipe' / 'masks')
