"""The stage-1 guard: an untrained stage 1 stops train.py and the pipeline before pseudo-masks."""
import json
import os.path as osp
import re

import pytest
from mmengine.config import Config

from mmseg_mctformer.evaluation.metrics.seed_metric import AUTHORS_THRESHOLDS, DEFAULT_THRESHOLDS
from mmseg_mctformer.pipeline import (
    WeakStage1Error,
    WSSSPipeline,
    check_stage1,
    stage1_problems,
    sweep_thresholds,
)

SWEEP = list(DEFAULT_THRESHOLDS)
# the held-out dataset of issue 40: mAP at the base rate, best threshold 0.95
WEAK = {'cls/mAP': 30.4, 'cls/label_rate': 30.0, 'seed/best_threshold': 0.95, 'seed/mIoU': 12.0}
# the Fashion-MNIST demo
GOOD = {'cls/mAP': 58.0, 'cls/label_rate': 31.0, 'seed/best_threshold': 0.4, 'seed/mIoU': 51.0}


def test_problems_name_the_numbers():
    assert stage1_problems(GOOD, SWEEP) == []
    problems = stage1_problems(WEAK, SWEEP)
    assert len(problems) == 2
    assert 'mAP 30.4' in problems[0] and 'base rate of the labels, 30.0' in problems[0]
    assert '0.95, is the highest of the sweep 0.00-0.95' in problems[1]
    low = dict(GOOD, **{'seed/best_threshold': 0.0})
    assert 'lowest' in stage1_problems(low, SWEEP)[0]
    # one symptom is enough; a missing entry or sweep skips its check
    assert len(stage1_problems(dict(GOOD, **{'cls/mAP': 35.0}), SWEEP)) == 1
    assert stage1_problems({'seed/best_threshold': 0.95}, None) == []
    assert stage1_problems({'cls/mAP': 30.0}, SWEEP) == []


def test_check_raises_unless_allowed():
    with pytest.raises(WeakStage1Error, match=r'has not learned.*seed mIoU 12\.0 at threshold '
                       r'0\.95.*--allow-weak-stage1'):
        check_stage1(WEAK, SWEEP)
    assert len(check_stage1(WEAK, SWEEP, allow=True)) == 2
    assert check_stage1(GOOD, SWEEP) == []


def test_message_names_files_that_exist():
    """The remedies the message names (the 4-epoch config, the guide) are files of the repo."""
    with pytest.raises(WeakStage1Error) as info:
        check_stage1(WEAK, SWEEP)
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    named = re.findall(r'(?:configs|docs)/[\w./-]+\.(?:py|md)', str(info.value))
    assert 'configs/mctformer/mctformer-plus_dinov2-s_1xb32-4e_demo-112x112.py' in named
    assert all(osp.isfile(osp.join(root, path)) for path in named), named
    # the longer schedule it names: the demo's cosine ends with the new last epoch
    assert 'param_scheduler.1.end and param_scheduler.1.T_max' in str(info.value)
    assert 'another randomness.seed' in str(info.value)
    cfg = Config.fromfile(osp.join(root, 'configs/mctformer_plus_demo.py'))
    cfg.merge_from_dict({'train_cfg.max_epochs': 4, 'param_scheduler.1.end': 4,
                         'param_scheduler.1.T_max': 4})
    cosine = cfg.param_scheduler[1]
    assert cosine.type == 'CosineAnnealingLR' and cosine.end == cosine.T_max == 4
    # the 4-epoch config is the demo recipe with exactly these keys changed, the backbone at
    # 0.3x the base learning rate and a 40-step warm-up
    cfg.merge_from_dict({'optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult': 0.3,
                         'param_scheduler.0.end': 40})
    four = Config.fromfile(osp.join(
        root, 'configs/mctformer/mctformer-plus_dinov2-s_1xb32-4e_demo-112x112.py'))
    for key in ('model', 'optim_wrapper', 'param_scheduler', 'train_dataloader'):
        assert four[key] == cfg[key], key
    assert four.train_cfg.max_epochs == 4
    assert four.param_scheduler[0].type == 'LinearLR' and four.param_scheduler[0].end == 40
    # own_dataset.md's longer run of it: 8 epochs with the cosine ending there
    four.merge_from_dict({'train_cfg.max_epochs': 8, 'param_scheduler.1.end': 8,
                          'param_scheduler.1.T_max': 8})
    assert four.param_scheduler[1].type == 'CosineAnnealingLR'
    assert four.param_scheduler[1].end == four.param_scheduler[1].T_max == 8


def test_sweep_thresholds_of_a_config():
    evaluator = [dict(type='MultiLabelMAPMetric'), dict(type='SeedMetric')]
    assert sweep_thresholds(Config(dict(val_evaluator=evaluator))) == SWEEP
    evaluator[1]['thresholds'] = 'authors'
    assert sweep_thresholds(Config(dict(val_evaluator=evaluator))) == list(AUTHORS_THRESHOLDS)
    assert sweep_thresholds(Config(dict(val_evaluator=dict(type='IoUMetric')))) is None
    assert sweep_thresholds(Config(dict())) is None


def test_pipeline_stops_before_the_pseudo_masks(tmp_path):
    data = osp.join(osp.dirname(osp.dirname(__file__)), 'data')
    cfg = osp.join(data, 'tiny_mctformer_demo.py')
    work_dir = tmp_path / 'pipe'
    work_dir.mkdir()
    state = dict(stage1=dict(checkpoint='stage1/epoch_1.pth', final_val_metrics=WEAK),
                 seeds=dict(cls_mAP=30.4, seed_mIoU=12.0, best_threshold=0.95, metrics=WEAK))
    (work_dir / 'pipeline_state.json').write_text(json.dumps(state))
    pipeline = WSSSPipeline(cfg, osp.join(data, 'tiny_deeplab_demo.py'), str(work_dir))
    with pytest.raises(WeakStage1Error, match=r'epoch_1\.pth.*mAP 30\.4'):
        pipeline.run()
    assert not (work_dir / 'pseudo_labels').exists()
    assert set(json.loads((work_dir / 'pipeline_state.json').read_text())) == {'stage1', 'seeds'}
