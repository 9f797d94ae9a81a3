"""Seeds and losses agree between the two supported stacks (docs/en/installation.md) on the same
weights: a tiny MCTformer+ (tests/data/tiny_mctformer_demo.py) and its inputs, with the outputs
recorded on the pinned OneDL stack (torch 2.14.1) in tests/data/stack_parity/tiny_mctformer.npz,
recomputed here on whichever stack runs the suite and compared to 1e-5.

Record again (on the OneDL stack, from the repository root)::

    PYTHONPATH=. python tests/test_models/test_segmentors/test_stack_parity.py --record

What is compared: the losses of ``train_step`` (data preprocessor with its channel swap, the
three loss terms), the losses after that one AdamW step (fused on the OneDL stack, PyTorch's
default implementation on torch 2.1: :class:`FusedFallbackOptimWrapperConstructor`), and the
seeds of ``test_step`` (``seg_logits``: background threshold + class maps, and ``pred_sem_seg``).
"""
import os.path as osp
import sys

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
TINY = osp.join(ROOT, 'tests', 'data', 'tiny_mctformer_demo.py')
RECORD = osp.join(ROOT, 'tests', 'data', 'stack_parity', 'tiny_mctformer.npz')
NUM_CLASSES = 6  # the demo's


def _build():
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    import mmseg_mctformer  # noqa: F401
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.drop_path_rate = 0.0  # deterministic steps (no RNG draws)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
        wrapper_cfg = cfg.optim_wrapper
        wrapper_cfg.type = 'OptimWrapper'
        wrapper_cfg.pop('loss_scale', None)
        # the demo's multipliers (class tokens 300x, PatchCAM head 30x): tokens at 3e-2
        wrapper_cfg.optimizer.lr = 1e-4

    def build_wrapper(module):
        with DefaultScope.overwrite_default_scope('mmseg'):
            return build_optim_wrapper(module, wrapper_cfg)
    return model, build_wrapper


def _data(images, labels, training):
    from mmseg.structures import SegDataSample
    samples = []
    for label in labels:
        sample = SegDataSample(metainfo=dict(img_shape=(32, 32), ori_shape=(32, 32)))
        sample.set_data(dict(gt_class_labels=torch.from_numpy(label)))
        samples.append(sample)
    return dict(inputs=list(torch.from_numpy(images)), data_samples=samples)


def stack_outputs(weights=None):
    """The compared outputs of the tiny model; ``weights`` (name -> array) loaded when given,
    else the model's initial ones. Returns ``{name: np.ndarray}``, inputs and weights included."""
    torch.manual_seed(0)
    model, build_wrapper = _build()
    gen = torch.Generator().manual_seed(0)
    if weights is None:
        weights = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=gen).numpy()
        labels = np.array([[1, 0, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0]], dtype=np.int64)
    else:
        images, labels = weights.pop('inputs/images'), weights.pop('inputs/labels')
        weights = {k[len('weights/'):]: v for k, v in weights.items() if k.startswith('weights/')}
        model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    model.eval()  # no dropout / drop path: the same computation on both stacks
    wrapper = build_wrapper(model)
    out = {'inputs/images': images, 'inputs/labels': labels}
    out.update({f'weights/{k}': v for k, v in weights.items()})
    for step in range(2):
        losses = model.train_step(_data(images, labels, True), wrapper)
        out.update({f'step{step}/{k}': v.detach().numpy() for k, v in losses.items()})
    with torch.no_grad():
        results = model.test_step(_data(images, labels, False))
    for i, result in enumerate(results):
        out[f'seeds/{i}/seg_logits'] = result.seg_logits.data.numpy()
        out[f'seeds/{i}/pred_sem_seg'] = result.pred_sem_seg.data.numpy()
    return out


def test_losses_and_seeds_agree_with_the_recorded_stack():
    with np.load(RECORD) as f:
        recorded = dict(f)
    ours = stack_outputs(dict(recorded))
    compared = [k for k in recorded if k.startswith(('step', 'seeds/'))]
    assert set(compared) == {k for k in ours if k.startswith(('step', 'seeds/'))}
    assert any(k.startswith('step1/loss_') for k in compared)
    for key in compared:
        if key.endswith('pred_sem_seg'):
            np.testing.assert_array_equal(ours[key], recorded[key], err_msg=key)
        else:
            np.testing.assert_allclose(ours[key], recorded[key], rtol=1e-5, atol=1e-5,
                                       err_msg=key)
    # the AdamW step changed the losses: the update itself is compared too
    assert abs(float(recorded['step1/loss']) - float(recorded['step0/loss'])) > 1e-2


if __name__ == '__main__' and sys.argv[1:] == ['--record']:
    from mmseg_mctformer.utils.io import atomic_output
    outputs = stack_outputs()
    with atomic_output(RECORD) as tmp, open(tmp, 'wb') as f:
        np.savez_compressed(f, **outputs)
    print(f'{RECORD}: {len(outputs)} arrays, torch {torch.__version__}')
