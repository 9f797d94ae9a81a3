"""tools/aggregate_runs.py and tools/run_pipeline.py --seeds over fake pipeline states."""
import os.path as osp

import pytest

from mmseg_mctformer.pipeline import WSSSPipeline

from .conftest import TINY_CFG, load_tool


def _fake_run(work_dir, seed_miou):
    """A pipeline state as WSSSPipeline._finish writes it (no stage is run)."""
    pipeline = WSSSPipeline(None, None, work_dir)
    pipeline._finish('seeds', dict(cls_mAP=90.0, seed_mIoU=seed_miou, best_threshold=0.4,
                                   split='val'))
    return work_dir


def test_aggregate_tool(tmp_path):
    runs = [_fake_run(str(tmp_path / f'r{i}'), 60.0 + i) for i in range(2)]
    summary = load_tool('aggregate_runs').main(runs + ['--out', str(tmp_path / 'out')])
    assert summary['rows'][1]['mean'] == 60.5
    assert osp.isfile(tmp_path / 'out' / 'results.md')


def test_run_pipeline_seeds(tmp_path, monkeypatch):
    tool = load_tool('run_pipeline')
    seen = []

    class Pipeline(WSSSPipeline):
        def run(self):  # the seeded options reach every stage's config
            seed = self.cfg_options['randomness.seed']
            assert self.seg_cfg_options['randomness.seed'] == seed
            assert self.cfg_options['x'] == 1
            seen.append((seed, self.work_dir))
            _fake_run(self.work_dir, 60.0 + 2 * seed)
            return self.table()

    monkeypatch.setattr(tool, 'WSSSPipeline', Pipeline)
    work_dir = str(tmp_path / 'w')
    summary = tool.main([TINY_CFG, '--seg-config', 'seg.py', '--work-dir', work_dir,
                         '--seeds', '0', '1', '2', '--cfg-options', 'x=1'])
    assert seen == [(s, osp.join(work_dir, f'seed{s}')) for s in (0, 1, 2)]
    seed = {r['key']: r for r in summary['rows']}['seed_mIoU']
    assert seed['values'] == [60.0, 62.0, 64.0] and seed['std'] == pytest.approx(2.0)
    assert '62.0 ± 2.0 (3)' in open(osp.join(work_dir, 'results.md')).read()
