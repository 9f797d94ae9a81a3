import errno
import json
import os
import os.path as osp
import socket
import time

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from mmseg_mctformer.engine import PseudoLabelHook
from mmseg_mctformer.engine.runner import set_bg_threshold
from mmseg_mctformer.evaluation import PseudoLabelMetric
from mmseg_mctformer.evaluation.metrics import pseudo_label_metric as metric_module
from mmseg_mctformer.utils import console
from mmseg_mctformer.utils.compat import autocast_enabled
from mmseg_mctformer.utils.label_dir import default_palette, is_valid_label_png, save_label_png

CLASSES = ('background', 'a', 'b')
PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
NUM_IMAGES = 5
RECORD = 'pseudo_label_info.json'


def _size(i):
    return 6 + i, 4  # (width, height)


def _masks(out_dir):
    """The mask files of a pseudo-label folder (its settings record left out)."""
    return sorted(n for n in os.listdir(out_dir) if n != RECORD)


class FakeDataset(torch.utils.data.Dataset):
    """Images img_i.jpg of size (6 + i) x 4 with image label class i % 2."""

    def __init__(self, img_dir, ids=None):
        self.metainfo = dict(classes=CLASSES, palette=PALETTE)
        self.img_dir = img_dir
        self.ids = list(range(NUM_IMAGES)) if ids is None else list(ids)
        self.infos = []
        for i in self.ids:
            path = osp.join(img_dir, f'img_{i}.jpg')
            if not osp.exists(path):
                Image.new('RGB', _size(i), (i * 40, 0, 0)).save(path)
            self.infos.append(dict(img_path=path, gt_class_labels=[i % 2]))

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, idx):
        return dict(self.infos[idx])

    def get_subset(self, indices):
        return FakeDataset(self.img_dir, [self.ids[i] for i in indices])

    def __getitem__(self, idx):
        i = self.ids[idx]
        w, h = _size(i)
        sample = SegDataSample(metainfo=dict(img_path=self.infos[idx]['img_path'],
                                             ori_shape=(h, w)))
        labels = torch.zeros(2, dtype=torch.long)
        labels[i % 2] = 1
        sample.set_data(dict(gt_class_labels=labels))
        return dict(inputs=torch.full((3, h, w), float(i)), data_samples=sample)


class FakeModel(BaseModel):
    """Map of class i % 2: 0.8 on the left half, 0.2 on the right; background score
    ``test_cfg['bg_threshold']`` (0.5), carried by every prediction as MCTformer's."""
    test_cfg = dict(bg_threshold=0.5)

    def __init__(self, fail_at_batch=None, record=None):
        super().__init__()
        self.test_cfg = dict(type(self).test_cfg)
        self.fail_at_batch = fail_at_batch
        self.record = record
        self.seen = []
        self.batches = 0

    def forward(self, *args, **kwargs):
        raise NotImplementedError

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
            thr = self.test_cfg['bg_threshold']
            logits = torch.cat([torch.full((1, h, w), thr), maps])
            out = SegDataSample(metainfo=sample.metainfo)
            out.seg_logits = PixelData(data=logits)
            out.pred_sem_seg = PixelData(data=logits.argmax(0, keepdim=True))
            out.kept_classes = sample.gt_class_labels > 0
            out.bg_threshold = thr
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


def _runner(tmp_path, model):
    runner = Runner(model=model, work_dir=str(tmp_path / 'work'), default_scope='mmseg',
                    log_level='WARNING', default_hooks=dict(checkpoint=None))
    runner.call_hook('before_run')  # the hook runs inside a run (after_train)
    return runner


def _setup(tmp_path, model=None, **kwargs):
    img_dir = tmp_path / 'imgs'
    img_dir.mkdir(exist_ok=True)
    hook = PseudoLabelHook(
        dataloader=dict(dataset=FakeDataset(str(img_dir)), batch_size=2, num_workers=0),
        **kwargs)
    return hook, _runner(tmp_path, model or FakeModel())


def _stats(out_dir):
    return {n: (os.stat(osp.join(out_dir, n)).st_ino, os.stat(osp.join(out_dir, n)).st_mtime_ns)
            for n in os.listdir(out_dir)}


def test_generate_writes_palette_pngs(tmp_path):
    hook, runner = _setup(tmp_path)
    runner.model.train()
    res = hook.generate(runner)
    out_dir = str(tmp_path / 'work' / 'pseudo_labels')
    assert res == dict(out_dir=out_dir, written=NUM_IMAGES, skipped=0)
    assert _masks(out_dir) == [f'img_{i}.png' for i in range(NUM_IMAGES)]
    for i in range(NUM_IMAGES):
        with Image.open(osp.join(out_dir, f'img_{i}.png')) as im:
            assert im.mode == 'P' and im.size == _size(i)
            assert im.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]
            np.testing.assert_array_equal(np.array(im), _expected(i))
    assert runner.model.training  # the training mode is restored
    assert sorted(runner.model.seen) == list(range(NUM_IMAGES))


def test_bg_threshold_and_out_dir_and_logits(tmp_path):
    """The masks use the model's test_cfg.bg_threshold (the one every prediction carries)."""
    hook, runner = _setup(tmp_path, out_dir='{work_dir}/seeds', save_logits=True)
    set_bg_threshold(runner.model, 0.1)
    hook.generate(runner)
    assert json.loads((tmp_path / 'work' / 'seeds' / RECORD).read_text())['bg_threshold'] == 0.1
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
    assert _masks(out_dir) == ['img_0.png', 'img_1.png']
    before = _stats(out_dir)
    runner.model = FakeModel()
    res = hook.generate(runner)
    assert res['written'] == 3 and res['skipped'] == 2
    assert sorted(runner.model.seen) == [2, 3, 4]
    after = _stats(out_dir)
    assert {n: after[n] for n in before} == before  # same inode and mtime: not rewritten
    assert len(after) == NUM_IMAGES + 1  # and the record


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
    assert _masks(out_dir) == ['img_0.png', 'img_1.png']  # no img_2, no temp file


def test_disk_full_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    hook, runner = _setup(tmp_path)

    def no_space(self, fp, *args, **kwargs):
        with open(fp, 'wb') as f:
            f.write(b'partial')
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(Image.Image, 'save', no_space)
    with pytest.raises(OSError) as info:
        hook.generate(runner)
    out_dir = tmp_path / 'work' / 'pseudo_labels'
    assert info.value.errno == errno.ENOSPC
    assert f'cannot write {out_dir / "img_0.png"}: No space left on device' in str(info.value)
    assert _masks(out_dir) == []  # no PNG, no temporary file


def test_settings_record_refuses_or_regenerates(tmp_path):
    hook, runner = _setup(tmp_path)
    assert runner.model.test_cfg['bg_threshold'] == 0.5
    hook.generate(runner)
    out_dir = tmp_path / 'work' / 'pseudo_labels'
    record = json.loads((out_dir / RECORD).read_text())
    assert record['bg_threshold'] == 0.5 and record['crf'] is None
    assert 'at the end of training' in record['checkpoint']
    # other settings: refused, nothing written
    set_bg_threshold(runner.model, 0.1)
    with pytest.raises(ValueError, match=r'other settings \(bg_threshold: 0.5 -> 0.1\).*'
                       'overwrite=True'):
        hook.generate(runner)
    np.testing.assert_array_equal(np.array(Image.open(out_dir / 'img_0.png')), _expected(0))
    # overwrite: the old masks are deleted and regenerated with the new settings
    hook.overwrite = True
    runner.model = set_bg_threshold(FakeModel(), 0.1)
    assert hook.generate(runner)['written'] == NUM_IMAGES
    np.testing.assert_array_equal(np.array(Image.open(out_dir / 'img_0.png')),
                                  _expected(0, bg_threshold=0.1))
    assert json.loads((out_dir / RECORD).read_text())['bg_threshold'] == 0.1
    # a folder of masks without a record is not trusted either
    os.remove(out_dir / RECORD)
    hook.overwrite = False
    with pytest.raises(ValueError, match='holds 5 masks but no record'):
        hook.generate(runner)


def test_hook_from_custom_hooks_after_training(tmp_path):
    (tmp_path / 'imgs').mkdir()
    loader = dict(dataset=FakeDataset(str(tmp_path / 'imgs')), batch_size=2, num_workers=0)
    runner = Runner(model=FakeModel(), work_dir=str(tmp_path / 'work'), default_scope='mmseg',
                    log_level='WARNING',
                    custom_hooks=[dict(type='PseudoLabelHook', dataloader=loader,
                                       out_dir='{work_dir}/seeds')])
    runner.call_hook('before_run')
    runner.call_hook('after_train')
    assert _masks(tmp_path / 'work' / 'seeds') == [f'img_{i}.png' for i in range(NUM_IMAGES)]


def test_metric_writes_from_predictions(tmp_path):
    metric = PseudoLabelMetric(output_dir=str(tmp_path))
    metric.dataset_meta = dict(classes=CLASSES)  # no palette: MMSeg's VOC palette
    maps = torch.zeros(3, 2, 3)  # seg_logits: channel 0 is not read back
    maps[0] = 0.7
    maps[1] = 0.95  # class a is not kept: it never wins
    maps[2, :, 1:] = 0.9
    sample = dict(img_path='x/a.jpg', ori_shape=(2, 3), seg_logits=dict(data=maps),
                  kept_classes=torch.tensor([False, True]), bg_threshold=0.45)
    metric.process({}, [sample])
    with Image.open(tmp_path / 'a.png') as im:
        assert im.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]
        np.testing.assert_array_equal(np.array(im), [[0, 2, 2], [0, 2, 2]])
    assert metric.compute_metrics(metric.results) == dict(written=1)
    # the sample's threshold is the one the mask uses: above 0.9, class b is background too
    metric.process({}, [dict(sample, bg_threshold=0.95)])
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / 'a.png')), [[0, 0, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match=r'x/a.jpg has bg_threshold 1.5, which must lie in '
                                         r'\[0, 1\]'):
        metric.process({}, [dict(sample, bg_threshold=1.5)])
    # the threshold has one home, the model's test_cfg: the metric takes none of its own
    with pytest.raises(TypeError, match="not an argument.*model's test_cfg.bg_threshold"):
        PseudoLabelMetric(output_dir=str(tmp_path), bg_threshold=0.1)
    del sample['bg_threshold']
    metric = PseudoLabelMetric(output_dir=str(tmp_path))
    metric.dataset_meta = dict(classes=CLASSES)
    with pytest.raises(KeyError, match='x/a.jpg has no bg_threshold'):
        metric.process({}, [sample])


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
    assert _masks(out_dir) == [f'img_{i}.png' for i in range(NUM_IMAGES)]
    for i in range(NUM_IMAGES):
        np.testing.assert_array_equal(np.array(Image.open(out_dir / f'img_{i}.png')),
                                      _expected(i))


def test_after_train_switch(tmp_path):
    hook, runner = _setup(tmp_path, after_train=False)
    hook.after_train(runner)
    assert runner.model.seen == []
    hook, runner = _setup(tmp_path, out_dir=str(tmp_path / 'pl'))
    hook.after_train(runner)
    assert len(_masks(tmp_path / 'pl')) == NUM_IMAGES


def test_crf_requested_but_missing_is_skipped_with_message(tmp_path, monkeypatch):
    messages = []
    monkeypatch.setattr(metric_module, 'crf_available', lambda: False)
    monkeypatch.setattr(metric_module, 'print_log', lambda msg, **kw: messages.append(msg))
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


def test_deprecated_hook_threshold_is_the_models_for_the_run(tmp_path, monkeypatch):
    """PseudoLabelHook(bg_threshold=...) warns once and writes the model's test_cfg at
    before_run: the masks, the record and the predictions use that one value."""
    messages = []
    monkeypatch.setattr(console, '_LOGGED_ONCE', set())
    monkeypatch.setattr(console, 'print_log', lambda msg, **kw: messages.append(msg))
    (tmp_path / 'imgs').mkdir()
    loader = dict(dataset=FakeDataset(str(tmp_path / 'imgs')), batch_size=2, num_workers=0)
    runner = Runner(model=FakeModel(), work_dir=str(tmp_path / 'work'), default_scope='mmseg',
                    log_level='WARNING', custom_hooks=[dict(type='PseudoLabelHook',
                                                            dataloader=loader, bg_threshold=0.1)])
    PseudoLabelHook(dataloader=loader, bg_threshold=0.1)  # a second one: no second warning
    assert len(messages) == 1 and 'bg_threshold is deprecated' in messages[0]
    assert 'model.test_cfg.bg_threshold' in messages[0]
    assert runner.model.test_cfg['bg_threshold'] == 0.5
    runner.call_hook('before_run')
    assert runner.model.test_cfg['bg_threshold'] == 0.1
    runner.call_hook('after_train')
    out_dir = tmp_path / 'work' / 'pseudo_labels'
    for i in range(NUM_IMAGES):
        np.testing.assert_array_equal(np.array(Image.open(out_dir / f'img_{i}.png')),
                                      _expected(i, bg_threshold=0.1))
    assert json.loads((out_dir / RECORD).read_text())['bg_threshold'] == 0.1


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
        if rank == 1:
            # a slow rank: had it listed the folder itself, it would see rank 0's first images
            # written and shard another list (images lost); it must use the main process's list
            from mmseg_mctformer.utils.label_dir import LabelDir
            listing = LabelDir.pending

            def slow_listing(*args, **kwargs):
                time.sleep(3)
                return listing(*args, **kwargs)

            LabelDir.pending = slow_listing
        hook, runner = _setup(root, model=FakeModel(record=osp.join(root, f'seen_{rank}.txt')))
        res = hook.generate(runner)
        with open(osp.join(root, f'res_{rank}.json'), 'w') as f:
            json.dump(res, f)
    finally:
        dist.destroy_process_group()


def spawn(fn, args, nprocs, timeout):
    """``mp.spawn(fn, args, nprocs)`` that fails the test after ``timeout`` seconds (a hung
    collective would otherwise stall the whole run) and kills the ranks still alive."""
    context = mp.start_processes(fn, args=args, nprocs=nprocs, join=False)
    deadline = time.monotonic() + timeout
    while not context.join(timeout=max(deadline - time.monotonic(), 0)):
        if time.monotonic() >= deadline:
            alive = [rank for rank, p in enumerate(context.processes) if p.is_alive()]
            for p in context.processes:
                p.kill()
                p.join()
            pytest.fail(f'spawn: ranks {alive} of {nprocs} still running after {timeout} s')


def test_spawn_fails_a_hung_rank():
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception,
                       match=r'ranks \[(0, )?1\] of 2 still running after 2 s'):
        spawn(_sleep_on_rank_1, args=(60,), nprocs=2, timeout=2)
    assert time.monotonic() - start < 30


def _sleep_on_rank_1(rank, seconds):
    if rank == 1:
        time.sleep(seconds)


def test_two_process_generation_covers_every_image_once(tmp_path):
    (tmp_path / 'imgs').mkdir()
    FakeDataset(str(tmp_path / 'imgs'))  # write the images once, before the ranks start
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    spawn(_dist_worker, args=(port, tmp_path), nprocs=2, timeout=300)
    seen = [[int(x) for x in (tmp_path / f'seen_{r}.txt').read_text().split()] for r in (0, 1)]
    assert sorted(seen[0]) == [0, 2, 4] and sorted(seen[1]) == [1, 3]
    assert [json.loads((tmp_path / f'res_{r}.json').read_text())['written'] for r in (0, 1)] \
        == [3, 2]
    out_dir = tmp_path / 'work' / 'pseudo_labels'
    assert _masks(out_dir) == [f'img_{i}.png' for i in range(NUM_IMAGES)]


def test_fp16_runs_the_model_under_autocast_and_is_recorded(tmp_path):
    """fp16=True: the TestLoop's autocast (bfloat16 on a CPU) around the model, and the folder's
    record says so: a float32 run does not resume it."""
    autocast = []

    class AutocastModel(FakeModel):
        def test_step(self, data):
            autocast.append(autocast_enabled('cpu'))
            return super().test_step(data)

    hook, runner = _setup(tmp_path, AutocastModel(), fp16=True)
    hook.generate(runner)
    assert autocast and all(autocast)
    out_dir = tmp_path / 'work' / 'pseudo_labels'
    assert json.loads((out_dir / RECORD).read_text())['precision'] == 'mixed (autocast)'
    hook.fp16 = False
    with pytest.raises(ValueError, match=r"precision: 'mixed \(autocast\)' -> None"):
        hook.generate(runner)
    # a float32 record has no precision key (as the records of earlier versions)
    (tmp_path / 'fp32').mkdir()
    hook, runner = _setup(tmp_path / 'fp32', AutocastModel())
    hook.generate(runner)
    assert autocast[-1] is False
    assert 'precision' not in json.loads(
        (tmp_path / 'fp32' / 'work' / 'pseudo_labels' / RECORD).read_text())


def test_pseudo_label_loop_as_the_test_loop_of_runner_test(tmp_path):
    """tools/make_pseudo_labels.py's flow: the loop is the runner's test_cfg; the record gets the
    model's test_cfg (its threshold recorded once, as bg_threshold); a rerun has nothing to do."""
    (tmp_path / 'imgs').mkdir()
    out_dir = str(tmp_path / 'pl')

    class ConfiguredModel(FakeModel):
        test_cfg = dict(bg_threshold=0.5, scales=(1.0, 0.5))

    def run():
        runner = Runner(
            model=ConfiguredModel(), work_dir=str(tmp_path / 'work'), default_scope='mmseg',
            log_level='WARNING', default_hooks=dict(checkpoint=None),
            test_dataloader=dict(dataset=FakeDataset(str(tmp_path / 'imgs')), batch_size=2,
                                 num_workers=0),
            test_evaluator=dict(type='PseudoLabelMetric', output_dir=out_dir),
            test_cfg=dict(type='PseudoLabelLoop', out_dir=out_dir,
                          record=dict(checkpoint='ckpt.pth')))
        return runner, runner.test()

    runner, metrics = run()
    assert metrics == {'pseudo_label/written': NUM_IMAGES}
    assert runner.test_loop.summary == dict(out_dir=out_dir, pending=NUM_IMAGES,
                                            written=NUM_IMAGES, skipped=0)
    assert _masks(out_dir) == [f'img_{i}.png' for i in range(NUM_IMAGES)]
    record = json.loads((tmp_path / 'pl' / RECORD).read_text())
    assert record == dict(checkpoint='ckpt.pth', bg_threshold=0.5,
                          test_cfg=dict(scales=[1.0, 0.5]))
    runner, metrics = run()
    assert metrics == {} and runner.test_loop.summary['skipped'] == NUM_IMAGES
    assert runner.model.seen == []


def test_the_record_names_the_models_threshold_only():
    """The record's bg_threshold is the model's: a record naming another one is refused."""
    from mmseg_mctformer.engine.runner import PseudoLabelLoop
    model = set_bg_threshold(FakeModel(), 0.3)
    assert PseudoLabelLoop.complete_record(model, dict(checkpoint='c', bg_threshold=None)) == \
        dict(checkpoint='c', bg_threshold=0.3, test_cfg={})
    assert PseudoLabelLoop.complete_record(model, dict(bg_threshold=0.3))['bg_threshold'] == 0.3
    with pytest.raises(ValueError, match=r"record\['bg_threshold'\] = 0.5 but the model's "
                                         r'test_cfg.bg_threshold = 0.3'):
        PseudoLabelLoop.complete_record(model, dict(bg_threshold=0.5))
