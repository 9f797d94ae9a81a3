"""EpochWarmupCosineLR against timm 0.4.12's CosineLRScheduler as the MCTformer code steps it."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import PARAM_SCHEDULERS

import mmseg_mctformer  # noqa: F401  (registers the scheduler)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The learning rate of each epoch in the authors' main.py: timm 0.4.12
# `create_scheduler(args, optimizer)` with their defaults (sched cosine, warmup-lr 1e-6,
# min-lr 1e-5, warmup-epochs 5, epochs E, lr 5e-4 * batch / 512), `optimizer.param_groups[0]['lr']`
# read before each epoch, `lr_scheduler.step(epoch)` after it. Recorded by running timm 0.4.12.
TIMM_MCTFORMER_PLUS_45E = [  # --epochs 45, --batch-size 32 (HEAD 0acc27a, run_mct_plus.sh)
    1e-06, 1e-06, 7.049999999999999e-06, 1.31e-05, 1.915e-05, 2.52e-05, 3.060923409585028e-05,
    3.0331420487452635e-05, 3.00063181741261e-05, 2.963551102166203e-05, 2.9220805565233817e-05,
    2.876422220813914e-05, 2.8267985378598167e-05, 2.7734512692562872e-05, 2.716640317533512e-05,
    2.6566424599376684e-05, 2.59375e-05, 2.5282693434633952e-05, 2.4605195055044066e-05,
    2.3908305565233817e-05, 2.319542014074647e-05, 2.247001188771114e-05, 2.1735614922218818e-05,
    2.0995807152464076e-05, 2.0254192847535934e-05, 1.9514385077781185e-05,
    1.8779988112288868e-05, 1.805457985925353e-05, 1.7341694434766186e-05,
    1.6644804944955937e-05, 1.5967306565366054e-05, 1.5312500000000003e-05,
    1.4683575400623319e-05, 1.4083596824664882e-05, 1.3515487307437133e-05,
    1.2982014621401832e-05, 1.248577779186086e-05, 1.2029194434766186e-05,
    1.1614488978337975e-05, 1.1243681825873903e-05, 1.0918579512547368e-05,
    1.0640765904149725e-05, 1.0411594480655365e-05, 1.0232181742203316e-05,
    1.0103401769620817e-05]
TIMM_MCTFORMER_V2_60E = [  # --epochs 60, --batch-size 64 (9606597, run.sh)
    1e-06, 1e-06, 1.3300000000000001e-05, 2.5600000000000002e-05, 3.79e-05, 5.02e-05,
    6.160555294008805e-05, 6.121523355274778e-05, 6.0756486195551544e-05,
    6.0230568263118274e-05, 5.9638921259944654e-05, 5.898316684934152e-05,
    5.826510240856738e-05, 5.748669610234237e-05, 5.665008148824549e-05, 5.57575516687816e-05,
    5.481155300614687e-05, 5.381467841692003e-05, 5.2769660265058233e-05,
    5.167936287267742e-05, 5.0546774669144465e-05, 4.9375e-05, 4.8167250618163105e-05,
    4.692683688073976e-05, 4.5657158675564136e-05, 4.436169610234237e-05,
    4.304399993394117e-05, 4.170768188396618e-05, 4.035640470730606e-05,
    3.899387216077591e-05, 3.762381885137728e-05, 3.625000000000001e-05,
    3.487618114862273e-05, 3.3506127839224105e-05, 3.2143595292693944e-05,
    3.079231811603382e-05, 2.9456000066058836e-05, 2.8138303897657636e-05,
    2.684284132443587e-05, 2.5573163119260253e-05, 2.43327493818369e-05,
    2.3125000000000006e-05, 2.195322533085555e-05, 2.0820637127322584e-05,
    1.9730339734941774e-05, 1.868532158307998e-05, 1.768844699385313e-05,
    1.674244833121841e-05, 1.5849918511754513e-05, 1.5013303897657632e-05,
    1.4234897591432622e-05, 1.3516833150658485e-05, 1.2861078740055347e-05,
    1.2269431736881726e-05, 1.1743513804448455e-05, 1.128476644725222e-05,
    1.0894447059911957e-05, 1.0573625480737601e-05, 1.0323181059377637e-05,
    1.0143800246582823e-05]


def epoch_rates(cfg, num_epochs, start=0, state=None):
    """Build the config's scheduler on a one-parameter optimizer at the config's lr and read the
    lr of every epoch, stepping after each as mmengine's ParamSchedulerHook (by epoch) does."""
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))],
                            lr=cfg.optim_wrapper.optimizer.lr)
    sched_cfg, = cfg.param_scheduler
    sched = PARAM_SCHEDULERS.build(dict(sched_cfg, optimizer=opt))
    if state is not None:
        opt.param_groups[0]['initial_lr'] = cfg.optim_wrapper.optimizer.lr
        sched.load_state_dict(state)
        opt.param_groups[0]['lr'] = sched.get_last_value()[0]
    rates = []
    for _ in range(start, num_epochs):
        rates.append(opt.param_groups[0]['lr'])
        opt.step()
        sched.step()
    return rates, sched


@pytest.mark.parametrize('config,expected', [
    ('configs/mctformer_plus_voc.py', TIMM_MCTFORMER_PLUS_45E),
    ('configs/mctformer_plus_coco.py', TIMM_MCTFORMER_PLUS_45E),
    ('configs/mctformer_voc.py', TIMM_MCTFORMER_V2_60E),
])
def test_recipe_rates_equal_timm_per_epoch(config, expected):
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.train_cfg.max_epochs == len(expected)
    rates, _ = epoch_rates(cfg, len(expected))
    assert rates == pytest.approx(expected, rel=1e-12, abs=0)
    assert max(rates) < cfg.optim_wrapper.optimizer.lr  # the peak never reaches the base rate


def test_resumed_schedule_continues_the_same_rates():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/mctformer_plus_voc.py'))
    _, sched = epoch_rates(cfg, 10)
    rates, _ = epoch_rates(cfg, 45, start=10, state=sched.state_dict())
    assert rates == pytest.approx(TIMM_MCTFORMER_PLUS_45E[10:], rel=1e-12, abs=0)


def test_bad_arguments_raise():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match='by_epoch=False given.*by_epoch=True'):
        PARAM_SCHEDULERS.build(dict(type='EpochWarmupCosineLR', optimizer=opt, T=10,
                                    by_epoch=False))
    with pytest.raises(ValueError, match='T=0, warmup_epochs=5'):
        PARAM_SCHEDULERS.build(dict(type='EpochWarmupCosineLR', optimizer=opt, T=0))
