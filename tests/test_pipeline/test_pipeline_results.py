"""The pipeline's state and results table: split-named metrics (the paper's splits:
test_pipeline_table.py)."""
import json
import os.path as osp

from mmseg_mctformer.pipeline import WSSSPipeline, format_table
from mmseg_mctformer.pipeline import pipeline as pipeline_module

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(ROOT, 'tests', 'data', 'tiny_mctformer_demo.py')
TINY_SEG_CFG = osp.join(ROOT, 'tests', 'data', 'tiny_deeplab_demo.py')


def test_stages_name_their_split_in_state_log_and_table(tmp_path, monkeypatch):
    logged = []
    monkeypatch.setattr(pipeline_module, 'print_log', lambda msg, **kwargs: logged.append(msg))
    pipeline = WSSSPipeline(TINY_CFG, TINY_SEG_CFG, str(tmp_path))
    seeds = dict(cls_mAP=90.0, seed_mIoU=60.0, best_threshold=0.4,
                 metrics={'cls/mAP': 90.0, 'seed/mIoU': 60.0, 'seed/best_threshold': 0.4,
                          'seed/precision': 70.0})
    pipeline._finish('seeds', pipeline._name_split('seeds', seeds))
    pipeline._finish('pseudo_eval', pipeline._name_split(
        'pseudo_eval', dict(pseudo_mIoU=55.0, metrics={'mIoU': 55.0, 'recall': 80.0})))
    pipeline._finish('segmentation', pipeline._name_split(
        'segmentation', dict(mIoU=50.0, checkpoint=None)))
    with open(pipeline.state_file) as f:
        state = json.load(f)
    # the old keys stay readable; the split-named ones read the same numbers
    assert state['seeds']['split'] == 'val' and state['seeds']['best_threshold'] == 0.4
    assert state['seeds']['metrics']['seed/val/mIoU'] == state['seeds']['metrics']['seed/mIoU']
    assert state['seeds']['metrics']['cls/val/mAP'] == 90.0
    assert state['pseudo_eval']['split'] == 'train'  # the demo configs' pseudo-label split
    assert state['pseudo_eval']['metrics']['pseudo/train/recall'] == 80.0
    assert state['segmentation']['metrics'] == {'mIoU': 50.0, 'seg/val/mIoU': 50.0}
    assert any(m.startswith('[pipeline] seeds (val split): ') and 'seed/val/mIoU=60.00' in m
               and 'cls/val/mAP=90.00' in m for m in logged)
    assert '[pipeline] segmentation (val split): seg/val/mIoU=50.00' in logged

    rows = {r['key']: r for r in pipeline.table()}
    assert rows['seed_mIoU']['name'] == 'seed/val/mIoU'
    assert rows['seed_mIoU']['ours'] == 60.0
    assert rows['seg_mIoU']['name'] == 'seg/val/mIoU'
    text = format_table(pipeline.table())
    assert '| seed/val/mIoU | 60.0 |' in text and '| pseudo/train/mIoU | 55.0 |' in text
