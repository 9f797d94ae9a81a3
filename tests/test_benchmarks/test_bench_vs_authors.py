"""benchmarks/bench_vs_authors.py end to end against a stand-in for the authors' checkout.

The stand-in (written here, in a temporary folder) has the names the driver imports from the
authors' repository (``models.deit_small_MCTformerPlus``, ``engine.train_one_epoch`` /
``generate_attention_maps_ms``) and from timm 0.4.12 (``timm.optim.create_optimizer``,
``timm.utils.NativeScaler``), each a few lines of torch: what is tested is the driver (workers,
job protocol, timing, JSON), not their model.
"""
import json
import os.path as osp
import statistics
import subprocess
import sys
import textwrap

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'benchmarks', 'bench_vs_authors.py')

STAND_IN = {
    'models.py': '''
        import torch.nn as nn

        class TinyPlus(nn.Module):
            def __init__(self, num_classes):
                super().__init__()
                self.head = nn.Conv2d(3, num_classes, 3, padding=1)

            def forward(self, x):
                cams = self.head(x)
                return cams.mean((2, 3)), None, cams.amax((2, 3))

        def deit_small_MCTformerPlus(num_classes=20, input_size=224, drop_path_rate=0.0):
            return TinyPlus(num_classes)
    ''',
    'engine.py': '''
        import torch.nn.functional as F

        CALLS = []

        def train_one_epoch(model, data_loader, optimizer, device, epoch, loss_scaler,
                            max_norm=0, set_training_mode=True, args=None):
            model.train(set_training_mode)
            for samples, targets in data_loader:
                cls, _, cam = model(samples.to(device))
                loss = (F.multilabel_soft_margin_loss(cls, targets.to(device)) +
                        F.multilabel_soft_margin_loss(cam, targets.to(device)))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            print('stand-in train_one_epoch: a print that must not reach the job channel')
            return {'loss': float(loss)}

        def generate_attention_maps_ms(data_loader, model, device, args):
            model.eval()
            for image_list, target in data_loader:
                assert len(image_list) % 2 == 0  # each scale and its flip
                for img in image_list:
                    model(img.to(device))
    ''',
    'site/timm/__init__.py': '',
    'site/timm/optim.py': '''
        import torch

        def create_optimizer(args, model):
            return torch.optim.AdamW(model.parameters(), lr=args.lr,
                                     weight_decay=args.weight_decay)
    ''',
    'site/timm/utils.py': '''
        class NativeScaler:
            pass
    ''',
}


def _stand_in(root):
    for name, text in STAND_IN.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def _run(args):
    return subprocess.run([sys.executable, SCRIPT] + args, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_side_by_side_json(tmp_path):
    repo = _stand_in(tmp_path / 'authors')
    out = tmp_path / 'result.json'
    proc = _run(['--authors-repo', str(repo), '--authors-pythonpath', str(repo / 'site'),
                 '--img-size', '32', '--batch-size', '2', '--iters', '1', '--hw', '40x48',
                 '--scales', '1.0', '0.5', '--repeats', '2', '--warmup', '1', '--threads', '1',
                 '--num-classes', '4', '--out', str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert json.loads(proc.stdout) == result
    assert result['seed'] == dict(hw=[40, 48], scales=[1.0, 0.5], flip=True)
    for mode, images in (('train', 2), ('seed', 1)):
        entry = result['results'][mode]
        for side in ('ours', 'theirs'):
            assert len(entry[side]['runs_s']) == 2
            # read in a separate untimed job (the timed ones keep the heap): a number, not None
            assert isinstance(entry[side]['peak_mem_mb'], float)
            assert all(s > 0 for s in entry[side]['runs_s'])
            # images per job (a training job: batch x iters) over the median job time (the
            # times are rounded to 1e-6 s, the rate to 1e-4 images/s)
            rate, median_s = entry[side]['images_per_s'], statistics.median(entry[side]['runs_s'])
            assert abs(rate * median_s - images) < 0.01 * images + rate * 1e-6 + median_s * 1e-4
        ratio = entry['ours']['images_per_s'] / entry['theirs']['images_per_s']
        assert abs(entry['speed_ratio'] - ratio) < 0.01 * ratio + 1e-3
    # their prints went to stderr, not to the job channel
    assert 'stand-in train_one_epoch' in proc.stderr


def test_refuses_a_folder_without_their_models(tmp_path):
    proc = _run(['--authors-repo', str(tmp_path)])
    assert proc.returncode == 2
    assert str(tmp_path) in proc.stderr and 'models.py' in proc.stderr


def test_refuses_bad_sizes_and_counts(tmp_path):
    repo = _stand_in(tmp_path / 'authors')
    for flag, value, needle in (('--hw', '40x0', '--hw'), ('--hw', '40', '--hw'),
                                ('--repeats', '0', '--repeats'),
                                ('--num-classes', '1', '--num-classes')):
        proc = _run(['--authors-repo', str(repo), flag, value])
        assert proc.returncode == 2, (flag, value)
        assert needle in proc.stderr and value in proc.stderr, proc.stderr


def test_op_counts_leave_out_the_optimizer(tmp_path):
    """``--modes ops``: operators of one training step on each side, the AdamW step uncounted
    (its single-tensor CPU kernels would be some 10 an parameter tensor)."""
    repo = _stand_in(tmp_path / 'authors')
    proc = _run(['--authors-repo', str(repo), '--authors-pythonpath', str(repo / 'site'),
                 '--modes', 'ops', '--img-size', '32', '--batch-size', '2', '--iters', '2',
                 '--threads', '1', '--num-classes', '4'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    entry = json.loads(proc.stdout)['results']['ops']
    for side in ('ours', 'theirs'):
        counts = entry[side]
        assert counts['ops_per_step'] >= counts['kernel_ops_per_step'] > 0
        assert not {'lerp_', 'addcdiv_', 'sqrt'} & set(counts['top_kernel_ops'])
    # the stand-in: conv, two losses and their backward, a few dozen kernels a step
    assert entry['theirs']['kernel_ops_per_step'] < 100
    # ours: a 12-layer ViT forward and backward (2 linear backward matmuls a layer at least)
    assert entry['ours']['top_kernel_ops']['mm'] >= 4 * 12
    ratio = entry['ours']['kernel_ops_per_step'] / entry['theirs']['kernel_ops_per_step']
    assert abs(entry['kernel_ops_ratio'] - ratio) < 1e-3 * ratio


def test_job_meter_reads_memory_only_when_asked():
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    import bench_workers as bw
    results = []
    for memory in (True, False):
        with bw.JobMeter('cpu', bw.rss_mb()[0], memory=memory) as meter:
            block = b'\x01' * (64 * 2**20)  # 64 MB, written
        del block
        results.append(meter.result)
    assert results[0]['peak_mem_mb'] >= 60 and results[1]['peak_mem_mb'] is None
    # the medians are of the times only
    assert bw.median_job(results[:1]) == (results[0]['seconds'], results[0]['cpu_seconds'])
