"""tools/test.py with MMSeg's flags (--out, --show-dir, --show, --wait-time, --tta)."""
import glob
import os
import os.path as osp

import pytest
import torch
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.cli import configure_crf, configure_format_only, configure_test
from mmseg_mctformer.datasets import DemoWSSSDataset
from mmseg_mctformer.engine.runner import load_config

from .conftest import TINY_CFG, TINY_SEG_CFG, data_root_options, load_tool

_tool = load_tool


def _options(root):
    return dict(o.split('=', 1) for o in data_root_options(root))


def test_configure_test_flags():
    cfg = configure_test(load_config(TINY_CFG), out='o', show=True, wait_time=0.5,
                         show_dir='v', tta=True)
    hook = cfg.default_hooks.visualization
    assert hook.draw and hook.show and hook.wait_time == 0.5
    assert cfg.visualizer.save_dir == osp.join(cfg.work_dir, 'v')
    assert cfg.model.test_cfg.scales == (1.0, 0.5, 1.5, 2.0) and cfg.model.test_cfg.flip
    # the stage-1 metrics take no output_dir: the seed PNGs are written by PseudoLabelMetric
    assert [m['type'] for m in cfg.test_evaluator] == [
        'MultiLabelMAPMetric', 'SeedMetric', 'PseudoLabelMetric']
    assert cfg.test_evaluator[-1]['output_dir'] == 'o'
    # MMSeg's DeepLab config: IoUMetric saves its predictions, --tta uses tta_pipeline/model
    seg = configure_test(load_config(TINY_SEG_CFG), out='o', tta=True)
    assert seg.test_evaluator['output_dir'] == 'o' and seg.test_evaluator['keep_results']
    assert seg.model.type == 'SegTTAModel' and seg.model.module.type == 'EncoderDecoder'
    cfg = load_config(TINY_CFG)
    del cfg.default_hooks['visualization']
    with pytest.raises(KeyError, match='default_hooks.visualization'):
        configure_test(cfg, show_dir='v')


def test_show_dir_help_names_the_folder(capsys):
    with pytest.raises(SystemExit):
        _tool('test').parse_args(['--help'])
    assert '{work_dir}/{show_dir}/vis_data/vis_image/' in ' '.join(capsys.readouterr().out.split())


def test_test_tool_out_show_dir_tta(tiny_demo_root, tmp_path):
    cfg = load_config(TINY_CFG, _options(tiny_demo_root))
    with DefaultScope.overwrite_default_scope('mmseg'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
    checkpoint = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(DemoWSSSDataset.METAINFO))), checkpoint)
    common = ['--work-dir', str(tmp_path / 'work'), '--cfg-options'] + data_root_options(
        tiny_demo_root)
    out_dir = str(tmp_path / 'out')
    metrics = _tool('test').main([TINY_CFG, checkpoint, '--out', out_dir, '--show-dir', 'vis']
                                 + common)
    assert 0 <= metrics['seed/mIoU'] <= 100 and metrics['pseudo_label/written'] == 4
    assert len([n for n in os.listdir(out_dir) if n.endswith('.png')]) == 4
    # where the --show-dir help says (test_show_dir_help_names_the_folder)
    drawn = glob.glob(str(tmp_path / 'work' / 'vis' / 'vis_data' / 'vis_image' / '*.png'))
    assert len(drawn) == 4
    tta = _tool('test').main([TINY_CFG, checkpoint, '--tta'] + common)
    assert 0 <= tta['seed/mIoU'] <= 100
    # a checkpoint of another architecture (a DeepLab segmentor): refused, nothing written
    deeplab = str(tmp_path / 'deeplab.pth')
    torch.save(dict(state_dict={'backbone.context_path.cls_token': torch.zeros(1, 1, 32),
                                'decode_head.conv_seg.weight': torch.zeros(7, 8, 1, 1)}), deeplab)
    with pytest.raises(ValueError, match=r'deeplab.pth does not fit the model \(MCTformer\): 0 '
                       r'of its \d+ keys matched.*missing e.g. \[.backbone'):
        _tool('test').main([TINY_CFG, deeplab, '--out', str(tmp_path / 'out2')] + common)
    assert not glob.glob(str(tmp_path / 'out2' / '*.png'))


def _tiny_seg_checkpoint(root, path):
    cfg = load_config(TINY_SEG_CFG, {f'{k}.dataset.data_root': root for k in (
        'train_dataloader', 'val_dataloader', 'test_dataloader')})
    with DefaultScope.overwrite_default_scope('mmseg'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(DemoWSSSDataset.METAINFO))), path)
    return path


def test_test_tool_format_only_voc_layout(tiny_demo_root, tmp_path):
    checkpoint = _tiny_seg_checkpoint(tiny_demo_root, str(tmp_path / 'seg.pth'))
    options = [f'{k}.dataset.data_root={tiny_demo_root}'
               for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    metrics = _tool('test').main([TINY_SEG_CFG, checkpoint, '--format-only', '--out',
                                  str(tmp_path / 'sub'), '--work-dir', str(tmp_path / 'w'),
                                  '--cfg-options'] + options)
    assert metrics == {}
    folder = tmp_path / 'sub' / 'results' / 'VOC2012' / 'Segmentation' / 'comp6_test_cls'
    names = open(osp.join(tiny_demo_root, 'ImageSets/Segmentation/val.txt')).read().split()
    assert sorted(os.listdir(folder)) == sorted(n + '.png' for n in names)
    from PIL import Image
    with Image.open(folder / (names[0] + '.png')) as im:
        assert im.mode == 'P' and im.size == (32, 32)
        assert im.getpalette()[3:6] == list(DemoWSSSDataset.METAINFO['palette'][1])
    # the server's test images have no masks: the test pipeline loads none
    cfg = configure_format_only(load_config(TINY_SEG_CFG))
    assert [t['type'] for t in cfg.test_dataloader.dataset.pipeline] == [
        'LoadImageFromFile', 'PackSegInputs']
    assert cfg.test_evaluator == dict(type='SubmissionMetric', server='voc',
                                      output_dir=osp.join(cfg.work_dir, 'format_only'))
    with pytest.raises(ValueError, match="no evaluation server known.*'ADE20KDataset'"):
        cfg = load_config(TINY_SEG_CFG)
        cfg.test_dataloader.dataset.type = 'ADE20KDataset'
        configure_format_only(cfg)


def test_test_tool_crf_columns(tiny_demo_root, tmp_path):
    checkpoint = _tiny_seg_checkpoint(tiny_demo_root, str(tmp_path / 'seg.pth'))
    options = [f'{k}.dataset.data_root={tiny_demo_root}'
               for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    # scales whose sizes the tiny ViT's 8 px patches divide (MMSeg's 0.75 gives 24 * 1.5 = 36)
    config = tmp_path / 'tiny_seg_tta.py'
    config.write_text(
        f'_base_ = [{TINY_SEG_CFG!r}]\n'
        "tta_pipeline = [dict(type='LoadImageFromFile'), dict(type='TestTimeAug', transforms=[\n"
        "    [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.5, 1.0, 1.5)],\n"
        "    [dict(type='RandomFlip', prob=p, direction='horizontal') for p in (0.0, 1.0)],\n"
        "    [dict(type='LoadAnnotations')], [dict(type='PackSegInputs')]])]\n")
    work_dir = tmp_path / 'w'
    results = _tool('test').main([str(config), checkpoint, '--crf', '--crf-workers', '2',
                                  '--tta', '--work-dir', str(work_dir), '--cfg-options']
                                 + options)
    assert list(results) == ['single scale', 'multi-scale + flip']
    for metrics in results.values():
        assert 0 <= metrics['mIoU'] <= 100 and 0 <= metrics['crf/mIoU'] <= 100
    table = open(work_dir / 'crf_columns.md').read()
    assert table.startswith('| test | mIoU | mIoU + CRF |')
    ss = results['single scale']
    assert f"| single scale | {ss['mIoU']:.2f} | {ss['crf/mIoU']:.2f} |" in table


def test_configure_crf_swaps_the_metric_and_the_tta_model():
    cfg = configure_test(load_config(TINY_SEG_CFG), tta=True)
    cfg.test_crf = dict(num_workers=3, iters=5)
    configure_crf(cfg, dict(bilateral_srgb=4))
    assert cfg.test_evaluator['type'] == 'CRFIoUMetric'
    assert cfg.test_evaluator['num_workers'] == 3
    assert cfg.test_evaluator['crf'] == dict(iters=5, bilateral_srgb=4)
    assert cfg.model.type == 'ProbSegTTAModel'
    stage1 = load_config(TINY_CFG)
    with pytest.raises(KeyError, match="need an IoUMetric in test_evaluator.*'SeedMetric'"):
        configure_crf(stage1)
