"""tools/run_pipeline.py: every stage on a tiny model, the results table, and resuming."""
import glob
import json
import os
import os.path as osp
import shutil

import numpy as np
import torch
from PIL import Image

from .conftest import TINY_CFG, TINY_SEG_CFG, data_root_options, run_tool


def _with_background_only_image(root, copy_to):
    """A copy of the tiny dataset whose first training image has an all-background mask."""
    shutil.copytree(root, copy_to)
    name = open(osp.join(copy_to, 'ImageSets/Segmentation/train_aug.txt')).read().split()[0]
    mask_path = osp.join(copy_to, 'SegmentationClassAug', name + '.png')
    with Image.open(mask_path) as im:
        blank = Image.new(im.mode, im.size)
        if im.mode == 'P':
            blank.putpalette(im.getpalette())
    blank.save(mask_path)
    for cached in ('cls_labels.npy', ):  # labels derived from the masks, not a stale file
        if osp.isfile(osp.join(copy_to, cached)):
            os.remove(osp.join(copy_to, cached))
    return copy_to


def test_pipeline_runs_every_stage_and_resumes(tiny_demo_root, tmp_path):
    # one training image shows no object: stage 1 skips it, the segmentor still needs its mask
    tiny_demo_root = _with_background_only_image(tiny_demo_root, str(tmp_path / 'demo'))
    work_dir = str(tmp_path / 'pipeline')
    seg_options = [f'{k}.dataset.data_root={tiny_demo_root}'
                   for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    args = ['tools/run_pipeline.py', TINY_CFG, '--seg-config', TINY_SEG_CFG, '--work-dir',
            work_dir, '--gt-baseline', '--allow-weak-stage1', '--cfg-options',
            'train_cfg.max_epochs=1'] + \
        data_root_options(tiny_demo_root) + ['--seg-cfg-options'] + seg_options
    result = run_tool(args)
    assert result.returncode == 0, result.stderr[-4000:]

    with open(osp.join(work_dir, 'pipeline_state.json')) as f:
        state = json.load(f)
    assert set(state) == {'stage1', 'seeds', 'pseudo_labels', 'pseudo_eval', 'segmentation',
                          'segmentation_gt'}
    # the validation after the last epoch is reused as the seeds stage
    assert state['seeds']['seed_mIoU'] == state['stage1']['final_val_metrics']['seed/mIoU']
    assert 0 <= state['seeds']['seed_mIoU'] <= 100
    assert 0 <= state['seeds']['best_threshold'] <= 1
    # one pseudo-mask per training image, and the segmentor trained on them
    names = open(osp.join(tiny_demo_root, 'ImageSets/Segmentation/train_aug.txt')).read().split()
    written = {n[:-4] for n in os.listdir(state['pseudo_labels']['out_dir'])
               if n.endswith('.png')}
    assert written == set(names)
    assert state['pseudo_labels']['background_only'] == 1
    with Image.open(osp.join(state['pseudo_labels']['out_dir'], names[0] + '.png')) as im:
        assert not np.asarray(im).any()
    assert state['pseudo_eval']['metrics']['num_images'] == len(names) - 1
    for key in ('segmentation', 'segmentation_gt'):
        assert 0 <= state[key]['mIoU'] <= 100 and osp.isfile(state[key]['checkpoint'])
    # the leakage guard lets only the GT baseline train on the GT masks, and labels it
    assert state['segmentation']['label'] == 'WSSS' and state['segmentation']['gt_masks'] is None
    assert state['segmentation_gt']['label'] == 'GT baseline'
    assert 'SegmentationClassAug (same folder)' in state['segmentation_gt']['gt_masks']
    # init_from_stage1: the segmentor's frozen ViT is stage 1's (the tiny config has no weights)
    stage1 = torch.load(state['stage1']['checkpoint'], weights_only=False)['state_dict']
    seg = torch.load(state['segmentation']['checkpoint'], weights_only=False)['state_dict']
    for name in ('layers.1.attn.qkv.weight', 'cls_token', 'patch_embed.projection.weight'):
        torch.testing.assert_close(seg['backbone.context_path.' + name], stage1['backbone.' + name])
    assert 'starts from the stage-1 checkpoint' in result.stdout + result.stderr

    with open(osp.join(work_dir, 'results.json')) as f:
        rows = {r['key']: r for r in json.load(f)}
    assert rows['seed_mIoU']['ours'] == state['seeds']['seed_mIoU']
    assert rows['seed_mIoU']['paper_voc'] is None  # the paper's numbers are VOC's
    assert 'paper (VOC)' not in result.stdout
    assert rows['seg_gt_mIoU']['ours'] == state['segmentation_gt']['mIoU']
    assert '| seed mIoU' in result.stdout
    # every stage logs into its own vis_data (one visualizer per runner)
    for stage, loss in (('stage1', 'loss_cct'), ('segmentation', 'decode.loss_ce'),
                        ('segmentation_gt', 'decode.loss_ce')):
        files = glob.glob(osp.join(work_dir, stage, '*', 'vis_data', 'scalars.json'))
        assert files and all(loss in open(f).read() for f in files), stage
    assert not any('decode.loss_ce' in open(f).read() for f in glob.glob(
        osp.join(work_dir, 'stage1', '*', 'vis_data', '*')) if osp.isfile(f))

    # a rerun skips every finished stage
    again = run_tool(args)
    assert again.returncode == 0, again.stderr[-4000:]
    log = again.stdout + again.stderr
    assert log.count('done before, skipped') == 6

    # without that validation, the seeds stage evaluates the stage-1 checkpoint itself
    state['stage1']['final_val_metrics'] = {}
    seeds = state.pop('seeds')
    with open(osp.join(work_dir, 'pipeline_state.json'), 'w') as f:
        json.dump(state, f)
    third = run_tool(args)
    assert third.returncode == 0, third.stderr[-4000:]
    assert '[pipeline] seeds: running' in third.stdout + third.stderr
    with open(osp.join(work_dir, 'pipeline_state.json')) as f:
        assert json.load(f)['seeds']['seed_mIoU'] == seeds['seed_mIoU']
