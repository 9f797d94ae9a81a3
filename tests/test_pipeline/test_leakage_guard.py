"""The label-leakage guard: training masks that are the ground truth are refused."""
import importlib.util
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from PIL import Image

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.engine.runner import load_config
from mmseg_mctformer.pipeline import (
    GTMaskLeakageError,
    WSSSPipeline,
    check_training_masks,
    find_gt_match,
    training_mask_dirs,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(ROOT, 'tests', 'data', 'tiny_mctformer_demo.py')
TINY_SEG_CFG = osp.join(ROOT, 'tests', 'data', 'tiny_deeplab_demo.py')


def _seg_options(root, masks):
    options = {f'{k}.dataset.data_root': root
               for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
    options['pseudo_label_dir'] = masks
    return options


def _pseudo_masks(root, out_dir):
    """Masks of the training images that differ from the GT (all background)."""
    os.makedirs(out_dir)
    for name in os.listdir(osp.join(root, 'SegmentationClassAug')):
        Image.fromarray(np.full((32, 32), 0, np.uint8)).save(osp.join(out_dir, name))
    return out_dir


def test_guard_refuses_gt_folder_link_and_copy(tiny_demo_root, tmp_path):
    gt = osp.join(tiny_demo_root, 'SegmentationClassAug')
    link = str(tmp_path / 'link')
    os.symlink(gt, link)
    copy = shutil.copytree(gt, str(tmp_path / 'copy'))
    for masks, reason in ((gt, 'same folder'), (link, 'same folder'),
                          (copy, 'sampled masks byte-equal')):
        cfg = load_config(TINY_SEG_CFG, _seg_options(tiny_demo_root, masks))
        assert training_mask_dirs(cfg) == [osp.abspath(masks)]
        with pytest.raises(GTMaskLeakageError, match=f'{masks}.*{reason}.*--allow-gt-masks'):
            check_training_masks(cfg, source='tiny')
        assert reason in check_training_masks(cfg, allow_gt_masks=True)


def test_guard_accepts_pseudo_masks_and_stage1(tiny_demo_root, tmp_path):
    masks = _pseudo_masks(tiny_demo_root, str(tmp_path / 'pseudo'))
    cfg = load_config(TINY_SEG_CFG, _seg_options(tiny_demo_root, masks))
    assert check_training_masks(cfg) is None
    # one GT-equal mask among the sample (an all-background image) is not a copy of the GT
    gt = osp.join(tiny_demo_root, 'SegmentationClassAug')
    first = sorted(os.listdir(masks))[0]
    shutil.copyfile(osp.join(gt, first), osp.join(masks, first))
    assert find_gt_match(masks, [gt]) is None
    # stage 1 learns from image labels: its train split loads no masks
    stage1 = load_config(TINY_CFG, {'train_dataloader.dataset.data_root': tiny_demo_root})
    assert training_mask_dirs(stage1) == [] and check_training_masks(stage1) is None


def test_train_tool_refuses_gt_masks(tiny_demo_root, tmp_path):
    spec = importlib.util.spec_from_file_location('train', osp.join(ROOT, 'tools', 'train.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    gt = osp.join(tiny_demo_root, 'SegmentationClassAug')
    options = [f'{k}={v}' for k, v in _seg_options(tiny_demo_root, gt).items()]
    with pytest.raises(GTMaskLeakageError, match='SegmentationClassAug'):
        train.main([TINY_SEG_CFG, '--work-dir', str(tmp_path / 'w'), '--cfg-options'] + options)
    assert not osp.exists(tmp_path / 'w')  # refused before the runner made its work dir


def test_pipeline_segmentation_stage_refuses_gt_copy(tiny_demo_root, tmp_path):
    copy = shutil.copytree(osp.join(tiny_demo_root, 'SegmentationClassAug'),
                           str(tmp_path / 'pseudo_labels'))
    options = {k: v for k, v in _seg_options(tiny_demo_root, copy).items()
               if k != 'pseudo_label_dir'}
    pipeline = WSSSPipeline(TINY_CFG, TINY_SEG_CFG, str(tmp_path / 'run'),
                            cfg_options={'train_dataloader.dataset.data_root': tiny_demo_root},
                            seg_cfg_options=options)
    pipeline.state = dict(stage1=dict(checkpoint='unused.pth'),
                          pseudo_labels=dict(out_dir=copy))
    with pytest.raises(GTMaskLeakageError, match=r'\[pipeline\] segmentation'):
        pipeline.run_stage('segmentation')
