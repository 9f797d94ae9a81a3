import json
import os
import os.path as osp
import socket
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from mmseg_mctformer.engine import (
    PseudoLabelHook,
    default_palette,
    is_valid_label_png,
    save_label_png,
)
from mmseg_mctformer.engine.hooks import pseudo_label_hook as hook_module

CLASSES = ('background', 'a', 'b')
PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
NUM_IMAGES = 5


def _size(i):
    return 6 + i, 4  # (width, height)


class FakeDataset(torch.utils.data.Dataset):
    """Images img_i.jpg of size (6 + i) x 4 with image label class i % 2."""

    def __init__(self, img_dir):
        self.metainfo = dict(classes=CLASSES, palette=PALETTE)
        self.infos = []
        for i in range(NUM_IMAGES):
            path = osp.join(img_dir, f'img_{i}.jpg')
            if not osp.exists(path):
                Image.new('RGB', _size(i), (i * 40, 0, 0)).save(path)
            self.infos.append(dict(img_path=path, gt_class_labels=[i % 2]))

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, idx):
        return dict(self.infos[idx])

    def __getitem__(self, idx):
        w, h = _size(idx)
        sample = SegDataSample(metainfo=dict(img_path=self.infos[idx]['img_path'],
                                             ori_shape=(h, w)))
        labels = torch.zeros(2, dtype=torch.long)
        labels[idx % 2] = 1
        sample.set_data(dict(gt_class_labels=labels))
        return dict(inputs=torch.full((3, h, w), float(idx)), data_samples=sample)


class FakeModel(torch.nn.Module):
    """Map of class i % 2: 0.8 on the left half, 0.2 on the right; background score 0.5."""

    def __init__(self, fail_at_batch=None, record=None):
        super().__init__()
        self.fail_at_batch = fail_at_batch
        self.record = record
        self.seen = []
        self.batches = 0
        self.eval_calls = 0

    def eval(self):
        self.eval_calls += 1
        return super().eval()

    def test_step(self, data):
        assert not self.training and not torch.is_grad_enabled()
        if self.batches == self.fail_at_batch:
            raise RuntimeError('interrupted')
        self.batches += 1
        outs = []
        for img, sample in zip(data['inputs'], data['data_samples']):
            idx = int(img[0, 0, 0])
            self.seen.append(idx)
            h, w = img.shape[1:]
            maps = torch.zeros(2, h, w)
            maps[idx % 2, :, :w // 2] = 0.8
            maps[idx % 2, :, w // 2:] = 0.2
            logits = torch.cat([torch.full((1, h, w), 0.5), maps])
            out = SegDataSample(metainfo=sample.metainfo)
            out.seg_logits = PixelData(data=logits)
            out.pred_sem_seg = PixelData(data=logits.argmax(0, keepdim=True))
            outs.append(out)
        if self.record is not None:
            with open(self.record, 'a') as f:
                f.write(''.join(f'{i}\n' for i in self.seen[-len(outs):]))
        return outs


def _expected(i, bg_threshold=0.5):
    w, h = _size(i)
    label = np.zeros((h, w), np.uint8)
    label[:, :w // 2] = i % 2 + 1
    if bg_threshold < 0.2:
        label[:, w // 2:] = i % 2 + 1
    return label


def _setup(tmp_path, model=None, **kwargs):
    img_dir = tmp_path / 'imgs'
    img_dir.mkdir(exist_ok=True)
    hook = PseudoLabelHook(
        dataloader=dict(dataset=FakeDataset(str(img_dir)), batch_size=2, num_workers=0),
        **kwargs)
    runner = SimpleNamespace(model=model or FakeModel(), work_dir=str(tmp_path / 'work'))
    return hook, runner


def _stats(out_dir):
    return {n: (os.stat(osp.join(out_dir, n)).st_ino, os.stat(osp.join(out_dir, n)).st_mtime_ns)
            for n in os.listdir(out_dir)}


def test_generate_writes_palette_pngs(tmp_path):
    hook, runner = _setup(tmp_path)
    runner.model.train()
    res = hook.generate(runner)
    out_dir = str(tmp_path / 'work' / 'pseudo_labels')
    assert res == dict(out_dir=out_dir, written=NUM_IMAGES, skipped=0)
    assert sorted(os.listdir(out_dir)) == [f'img_{i}.png' for i in range(NUM_IMAGES)]
    for i in range(NUM_IMAGES):
        with Image.open(osp.join(out_dir, f'img_{i}.png')) as im:
            assert im.mode == 'P' and im.size == _size(i)
            assert im.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]
            np.testing.assert_array_equal(np.array(im), _expected(i))
    assert runner.model.training  # the training mode is restored
    assert sorted(runner.model.seen) == list(range(NUM_IMAGES))


def test_bg_threshold_and_out_dir_and_logits(tmp_path):
    hook, runner = _setup(tmp_path, out_dir='{work_dir}/seeds', bg_threshold=0.1,
                          save_logits=True)
    hook.generate(runner)
    out_dir = tmp_path / 'work' / 'seeds'
    for i in range(NUM_IMAGES):
        np.testing.assert_array_equal(np.array(Image.open(out_dir / f'img_{i}.png')),
                                      _expected(i, bg_threshold=0.1))
        with np.load(out_dir / f'img_{i}.npz') as f:
            assert f['classes'].tolist() == [i % 2]
            assert f['maps'].dtype == np.float16 and f['maps'].shape == (1, 4, 6 + i)
            assert float(f['maps'][0, 0, 0]) == pytest.approx(0.8, abs=1e-3)
    # a missing npz makes the image pending again
    os.remove(out_dir / 'img_3.npz')
    runner.model.seen.clear()
    assert hook.generate(runner)['written'] == 1 and runner.model.seen == [3]


def test_interrupted_run_resumes_without_rewriting(tmp_path):
    hook, runner = _setup(tmp_path, model=FakeModel(fail_at_batch=1))
    with pytest.raises(RuntimeError, match='interrupted'):
        hook.generate(runner)
    out_dir = str(tmp_path / 'work' / 'pseudo_labels')
    assert sorted(os.listdir(out_dir)) == ['img_0.png', 'img_1.png']
    before = _stats(out_dir)
    runner.model = FakeModel()
    res = hook.generate(runner)
    assert res['written'] == 3 and res['skipped'] == 2
    assert sorted(runner.model.seen) == [2, 3, 4]
    after = _stats(out_dir)
    assert {n: after[n] for n in before} == before  # same inode and mtime: not rewritten
    assert len(after) == NUM_IMAGES


def test_failure_while_writing_leaves_no_partial_file(tmp_path, monkeypatch):
    hook, runner = _setup(tmp_path)
    real_save = Image.Image.save
    calls = []

    def flaky_save(self, fp, *args, **kwargs):
        calls.append(1)
        real_save(self, fp, *args, **kwargs)
        if len(calls) == 3:
            raise OSError('disk full')

    monkeypatch.setattr(Image.Image, 'save', flaky_save)
    with pytest.raises(OSError, match='disk full'):
        hook.generate(runner)
    out_dir = str(tmp_path / 'work' / 'pseudo_labels')
    assert sorted(os.listdir(out_dir)) == ['img_0.png', 'img_1.png']  # no img_2, no temp file


def test_corrupt_existing_pngs_are_regenerated(tmp_path):
    hook, runner = _setup(tmp_path)
    hook.generate(runner)
    out_dir = tmp_path / 'work' / 'pseudo_labels'
    (out_dir / 'img_1.png').write_bytes(b'not a png')
    data = (out_dir / 'img_2.png').read_bytes()
    (out_dir / 'img_2.png').write_bytes(data[:len(data) // 2])
    Image.new('P', (3, 3)).save(out_dir / 'img_3.png')  # wrong size
    (out_dir / '.img_4.png.x1y2.tmp').write_bytes(b'stale')
    runner.model = FakeModel()
    res = hook.generate(runner)
    assert res == dict(out_dir=str(out_dir), written=3, skipped=2)
    assert sorted(runner.model.seen) == [1, 2, 3]
    assert sorted(os.listdir(out_dir)) == [f'img_{i}.png' for i in range(NUM_IMAGES)]
    for i in range(NUM_IMAGES):
        np.testing.assert_array_equal(np.array(Image.open(out_dir / f'img_{i}.png')),
                                      _expected(i))


def test_after_train_switch(tmp_path):
    hook, runner = _setup(tmp_path, after_train=False)
    hook.after_train(runner)
    assert runner.model.seen == []
    hook, runner = _setup(tmp_path, out_dir=str(tmp_path / 'pl'))
    hook.after_train(runner)
    assert len(os.listdir(tmp_path / 'pl')) == NUM_IMAGES


def test_crf_requested_but_missing_is_skipped_with_message(tmp_path, monkeypatch):
    messages = []
    monkeypatch.setattr(hook_module, 'crf_available', lambda: False)
    monkeypatch.setattr(hook_module, 'print_log', lambda msg, **kw: messages.append(msg))
    hook, runner = _setup(tmp_path, crf=dict())
    hook.generate(runner)
    assert any('pydensecrf' in m and 'skipped' in m for m in messages)
    out_dir = tmp_path / 'work' / 'pseudo_labels'
    np.testing.assert_array_equal(np.array(Image.open(out_dir / 'img_0.png')), _expected(0))


def test_hook_argument_errors():
    with pytest.raises(TypeError, match='"dataset" key'):
        PseudoLabelHook(dataloader=[1, 2])
    with pytest.raises(ValueError, match=r'in \[0, 1\].*got 2'):
        PseudoLabelHook(dataloader=dict(dataset=None), bg_threshold=2)


def test_png_helpers(tmp_path):
    path = str(tmp_path / 'm.png')
    save_label_png(path, np.array([[0, 1, 2]]), default_palette(3))
    assert is_valid_label_png(path, (3, 1)) and not is_valid_label_png(path, (1, 3))
    assert default_palette(3) == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
    with pytest.raises(ValueError, match=r'shape \(H, W\)'):
        save_label_png(path, np.zeros((1, 2, 2)), PALETTE)
    with pytest.raises(ValueError, match='0..255'):
        save_label_png(path, np.array([[300]]), PALETTE)


def _dist_worker(rank, port, root):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=2)
    try:
        hook, runner = _setup(root, model=FakeModel(record=osp.join(root, f'seen_{rank}.txt')))
        res = hook.generate(runner)
        with open(osp.join(root, f'res_{rank}.json'), 'w') as f:
            json.dump(res, f)
    finally:
        dist.destroy_process_group()


def test_two_process_generation_covers_every_image_once(tmp_path):
    (tmp_path / 'imgs').mkdir()
    FakeDataset(str(tmp_path / 'imgs'))  # write the images once, before the ranks start
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    mp.spawn(_dist_worker, args=(port, tmp_path), nprocs=2, join=True)
    seen = [[int(x) for x in (tmp_path / f'seen_{r}.txt').read_text().split()] for r in (0, 1)]
    assert sorted(seen[0]) == [0, 2, 4] and sorted(seen[1]) == [1, 3]
    assert [json.loads((tmp_path / f'res_{r}.json').read_text())['written'] for r in (0, 1)] \
        == [3, 2]
    out_dir = tmp_path / 'work' / 'pseudo_labels'
    assert sorted(os.listdir(out_dir)) == [f'img_{i}.png' for i in range(NUM_IMAGES)]
