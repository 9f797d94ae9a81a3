"""benchmarks/bench_optimizer_step.py: the stage-1 AdamW variants take the same step."""
import json
import os.path as osp
import subprocess
import sys

import torch

from mmseg_mctformer.utils.compat import fused_optimizer_supported

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'benchmarks', 'bench_optimizer_step.py')


def test_fused_adamw_bench_times_the_config_groups_and_reports_drift(tmp_path):
    out = tmp_path / 'optim.json'
    proc = subprocess.run(
        [sys.executable, SCRIPT, '--iters', '2', '--warmup', '1', '--threads', '1',
         '--out', str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = json.loads(proc.stdout[proc.stdout.index('{'):])
    assert printed == json.loads(out.read_text())
    assert printed['tensors'] > 100 and printed['parameters'] > 21_000_000  # DeiT-S MCTformer+
    fused = {'fused'} if fused_optimizer_supported(torch.optim.AdamW, 'cpu') else set()
    assert set(printed['step_ms']) == {'foreach', 'per_tensor'} | fused
    assert all(ms > 0 for ms in printed['step_ms'].values())
    # three steps of the same gradients moved the weights, by the same update to float rounding
    assert printed['max_abs_update'] > 1e-5  # 3 Adam steps of lr 3.1e-5
    assert set(printed['max_abs_drift_vs_per_tensor']) == {'foreach'} | fused
    assert max(printed['max_abs_drift_vs_per_tensor'].values()) < 1e-6
    assert (printed['speedup_fused_vs_per_tensor'] > 0) if fused else (
        printed['speedup_fused_vs_per_tensor'] is None)
