"""benchmarks/profile_seed_cpu.py: shares of our seed generation, counted FLOPs, classification."""
import json
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH = osp.join(ROOT, 'benchmarks')
SCRIPT = osp.join(BENCH, 'profile_seed_cpu.py')


def test_gflop_counts_the_token_grids_of_the_authors_resize(prof):
    args = prof.parse_args(['--hw', '40x70', '--scales', '1.0', '1.5'])
    gflop = prof.share_gflop(args, 20)
    # scale 1: 40 // 16 x 70 // 16 = 2 x 4 patches; scale 1.5: round(60) // 16 x round(105) // 16
    # = 3 x 6; N = 20 + M; two sequences (image and flip) each
    grids = [(8, 28), (18, 38)]
    layer_macs = 4 * 384 * 384 + 2 * 384 * 1536
    linear = sum(2 * (12 * 2 * n * layer_macs + 2 * m * 768 * 384) for m, n in grids)
    attention = sum(2 * 12 * 2 * 2 * n * n * 384 for _, n in grids)
    refinement = sum(2 * 12 * 2 * 2 * m * n * 384 for m, n in grids)
    theirs = sum(2 * 2 * m * m * 20 for m, _ in grids)
    assert gflop['linear'] == pytest.approx(linear / 1e9)
    assert gflop['attention'] == pytest.approx(attention / 1e9)
    assert gflop['affinity_refinement'] == pytest.approx(refinement / 1e9)
    assert gflop['affinity_refinement_theirs'] == pytest.approx(theirs / 1e9)


def test_classify_by_region_operator_and_callers(prof):
    assert prof.classify('seed:backbone', 'backbone', [], 'ours') == 'python'
    assert prof.classify('aten::addmm', 'attention_module', ['aten::linear'], 'ours') == 'linear'
    assert prof.classify('aten::copy_', 'backbone', ['aten::addmm', 'aten::linear'],
                         'ours') == 'linear'
    assert prof.classify('aten::_scaled_dot_product_flash_attention_for_cpu',
                         'attention_module', [], 'ours') == 'attention'
    assert prof.classify('aten::gelu', 'backbone', [], 'ours') == 'other_backbone'
    assert prof.classify('aten::bmm', 'affinity_refinement', [], 'ours') == 'affinity_refinement'
    assert prof.classify('aten::bmm', None, ['aten::matmul'], 'ours') == 'other_ops'
    # the authors' map loop outside their model: the refinement product and the upsampling
    assert prof.classify('aten::bmm', None, ['aten::matmul'], 'theirs') == 'affinity_refinement'
    assert prof.classify('aten::upsample_bilinear2d', None, [], 'theirs') == 'upsample_sum'


def test_theirs_needs_a_checkout(prof, tmp_path):
    with pytest.raises(SystemExit):
        prof.parse_args(['--side', 'theirs', '--authors-repo', str(tmp_path)])


def test_our_profile_splits_the_whole_job(tmp_path):
    out = tmp_path / 'prof.json'
    proc = subprocess.run(
        [sys.executable, SCRIPT, '--hw', '40x56', '--scales', '1.0', '--repeats', '1',
         '--out', str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = json.loads(proc.stdout[proc.stdout.index('{'):])
    assert printed == json.loads(out.read_text())
    shares = printed['shares']
    assert sum(s['share'] for s in shares.values()) == pytest.approx(1, abs=1e-3)
    for name in ('linear', 'attention', 'class_attention', 'affinity_refinement', 'resize',
                 'seed'):
        assert shares[name]['ms'] > 0, name
    assert shares['linear']['gflop'] > shares['attention']['gflop'] > 0
    assert printed['unprofiled_cpu_s'] > 0 and printed['scales'] == [1.0]
    assert printed['unmarked_regions'] == []  # every method the script names exists


def test_refinement_alternatives_time_every_variant(prof):
    args = prof.parse_args(['--refinement-alternatives', '--hw', '40x56', '--scales', '1.0',
                            '--repeats', '1'])
    result = prof.refinement_alternatives(args)
    (row, ) = result['per_forward']
    assert row['tokens'] == 20 + 2 * 3
    variants = ('fused', 'explicit_accumulated', 'explicit_chunked')
    assert set(result['per_image_cpu_s']) == set(variants)
    assert all(row[f'{name}_cpu_s'] > 0 for name in variants)
    assert result['explicit_over_fused'] > 0 and result['explicit_chunked_over_fused'] > 0


def test_explicit_chunked_layer_accumulates_the_patch_affinity(prof):
    import torch
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 9, 4, generator=gen) for _ in range(3))
    affinity = torch.zeros(1, 6, 6)
    prof._explicit_chunked_layer(q, k, v, None, affinity, 3, 0.5, rows=4)
    attn = ((q * 0.5) @ k.transpose(-2, -1)).softmax(dim=-1).mean(dim=1)  # (1, 9, 9)
    torch.testing.assert_close(affinity, attn[:, 3:, 3:])
