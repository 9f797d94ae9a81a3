"""Mean ± std of pipeline results over runs, from states written by the pipeline's own writer.

The tools (``aggregate_runs.py``, ``run_pipeline.py --seeds``):
tests/test_tools/test_aggregate_runs.py.
"""
import json
import os.path as osp

import pytest

from mmseg_mctformer.pipeline import WSSSPipeline, aggregate_runs, format_aggregate, write_aggregate

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _fake_run(work_dir, seed_miou, seg_miou=None, seed_split='val'):
    """A pipeline state as WSSSPipeline._finish writes it (no stage is run)."""
    pipeline = WSSSPipeline(None, None, work_dir)
    pipeline._finish('seeds', dict(cls_mAP=90.0, seed_mIoU=seed_miou, best_threshold=0.4,
                                   split=seed_split))
    if seg_miou is not None:
        pipeline._finish('segmentation', dict(mIoU=seg_miou, split='val'))
    return work_dir


def test_aggregate_mean_std_and_per_run_numbers(tmp_path):
    runs = [_fake_run(str(tmp_path / 'a'), 60.0, 50.0), _fake_run(str(tmp_path / 'b'), 62.0, 51.0),
            _fake_run(str(tmp_path / 'c'), 64.0)]
    summary = write_aggregate(runs, str(tmp_path / 'out'))
    rows = {r['key']: r for r in summary['rows']}
    seed = rows['seed_mIoU']
    assert seed['values'] == [60.0, 62.0, 64.0] and seed['n'] == 3
    assert seed['mean'] == 62.0 and seed['std'] == pytest.approx(2.0)  # sample std (n - 1)
    assert seed['name'] == 'seed/val/mIoU'
    seg = rows['seg_mIoU']  # the third run has no segmentation stage yet
    assert seg['values'] == [50.0, 51.0, None] and seg['n'] == 2 and seg['mean'] == 50.5
    assert seg['std'] == pytest.approx(0.5 ** 0.5)
    assert rows['cls_mAP']['std'] == 0.0
    text = open(tmp_path / 'out' / 'results.md').read()
    assert '| seed/val/mIoU | 62.0 ± 2.0 (3) | 60.0 | 62.0 | 64.0 |' in text
    assert '| seg/val/mIoU | 50.5 ± 0.7 (2) | 50.0 | 51.0 | - |' in text
    assert 'paper' not in text  # without the stage-1 config the dataset is unknown
    voc = format_aggregate(aggregate_runs(runs, config=osp.join(ROOT, 'configs',
                                                                'mctformer_plus_voc.py')))
    assert '| seed/val/mIoU | 62.0 ± 2.0 (3) | 60.0 | 62.0 | 64.0 | 68.8 (train) |' in voc
    with open(tmp_path / 'out' / 'results.json') as f:
        assert json.load(f)['runs'] == [osp.abspath(r) for r in runs]


def test_aggregate_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=f'{tmp_path} has no pipeline_state.json'):
        aggregate_runs([str(tmp_path)])
    with pytest.raises(ValueError, match='no work dirs given'):
        aggregate_runs([])
    runs = [_fake_run(str(tmp_path / 'a'), 60.0),
            _fake_run(str(tmp_path / 'b'), 70.0, seed_split='train')]
    with pytest.raises(ValueError, match=r"cls_mAP was measured on different splits: "
                       r"\['cls/train/mAP', 'cls/val/mAP'\]"):
        aggregate_runs(runs)
