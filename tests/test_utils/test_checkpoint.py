"""Checkpoint checks: foreign weights are refused, truncated files are never resumed."""
import os
import os.path as osp
import shutil

import pytest
import torch
import torch.nn as nn
from mmseg.registry import MODELS

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.utils.checkpoint import (
    check_checkpoint_file,
    check_state_dict,
    find_resume_checkpoint,
    is_complete_checkpoint,
    read_state_dict,
)


def _deeplab_like_state():
    """Keys of an MMSeg ResNet + ASPP checkpoint (another architecture)."""
    return {'backbone.stem.0.weight': torch.zeros(32, 3, 3, 3),
            'backbone.layer1.0.conv1.weight': torch.zeros(64, 64, 3, 3),
            'decode_head.conv_seg.weight': torch.zeros(7, 128, 1, 1)}


def test_check_state_dict_counts_and_names_the_file():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))  # 4 keys
    state = {'0.weight': torch.zeros(2, 2), '0.bias': torch.zeros(2), 'extra': torch.zeros(1)}
    assert check_state_dict(model, state, 'a.pth', min_ratio=0.5) == (2, 4)
    with pytest.raises(ValueError, match=r'a\.pth .*2 of its 4 keys matched'):
        check_state_dict(model, state, 'a.pth')


def test_read_state_dict_unwraps_and_strips_module(tmp_path):
    path = str(tmp_path / 'ddp.pth')
    torch.save(dict(state_dict={'module.backbone.w': torch.ones(1)}, meta={}), path)
    assert list(read_state_dict(path)) == ['backbone.w']
    assert list(read_state_dict(path, prefix='backbone')) == ['w']
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        read_state_dict(str(tmp_path / 'missing.pth'))
    cut = str(tmp_path / 'cut.pth')
    with open(path, 'rb') as src, open(cut, 'wb') as dst:
        dst.write(src.read()[:100])
    with pytest.raises(RuntimeError, match='cut.pth cannot be read'):
        read_state_dict(cut)


def test_pretrained_backbone_refuses_another_architecture(tmp_path):
    path = str(tmp_path / 'deeplab.pth')
    torch.save(dict(state_dict=_deeplab_like_state()), path)
    backbone = MODELS.build(dict(
        type='MultiClassTokenViT', num_classes=2, img_size=16,
        arch=dict(embed_dims=8, num_layers=1, num_heads=2, feedforward_channels=16,
                  patch_size=8),
        init_cfg=dict(type='Pretrained', checkpoint=path)))
    with pytest.raises(ValueError, match=r'deeplab\.pth does not fit the backbone .* 0 of its '):
        backbone.init_weights()
    # its own weights load
    good = str(tmp_path / 'vit.pth')
    torch.save(backbone.state_dict(), good)
    backbone.init_cfg = dict(type='Pretrained', checkpoint=good)
    backbone.init_weights()
    n = len(backbone.state_dict())
    assert check_checkpoint_file(backbone, good) == (n, n)


def _save(path, step):
    torch.save(dict(state_dict={'w': torch.full((64, ), float(step))}, meta=dict(epoch=step)),
               path)


def test_find_resume_checkpoint(tmp_path):
    work = str(tmp_path)
    assert find_resume_checkpoint(work) is None  # nothing to resume: start from scratch
    _save(osp.join(work, 'epoch_1.pth'), 1)
    _save(osp.join(work, 'epoch_2.pth'), 2)
    with open(osp.join(work, 'epoch_3.pth'), 'wb') as f:  # cut short by a kill / full disk
        f.write(open(osp.join(work, 'epoch_2.pth'), 'rb').read()[:200])
    assert is_complete_checkpoint(osp.join(work, 'epoch_2.pth'))
    assert not is_complete_checkpoint(osp.join(work, 'epoch_3.pth'))
    # no last_checkpoint: the newest complete one, not the truncated epoch_3
    assert find_resume_checkpoint(work) == osp.join(work, 'epoch_2.pth')
    marker = osp.join(work, 'last_checkpoint')
    with open(marker, 'w') as f:
        f.write(osp.join(work, 'epoch_3.pth'))
    assert find_resume_checkpoint(work) == osp.join(work, 'epoch_2.pth')
    with open(marker, 'w') as f:
        f.write(osp.join(work, 'epoch_1.pth'))
    assert find_resume_checkpoint(work) == osp.join(work, 'epoch_1.pth')
    os.remove(osp.join(work, 'epoch_1.pth'))
    os.remove(osp.join(work, 'epoch_2.pth'))
    with pytest.raises(RuntimeError, match=r'no complete checkpoint .*epoch_3\.pth'):
        find_resume_checkpoint(work)


def test_copied_work_dir_resumes_its_own_checkpoint(tmp_path):
    """`cp -r` keeps the original's absolute path in last_checkpoint: the copy resumes its own
    file of that name, never the original's."""
    orig, copy = str(tmp_path / 'orig'), str(tmp_path / 'copy')
    os.makedirs(orig)
    _save(osp.join(orig, 'epoch_2.pth'), 2)
    with open(osp.join(orig, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(orig, 'epoch_2.pth'))
    shutil.copytree(orig, copy)
    assert find_resume_checkpoint(copy) == osp.join(copy, 'epoch_2.pth')
    os.remove(osp.join(copy, 'epoch_2.pth'))  # the copy lacks it: nothing of the original
    _save(osp.join(copy, 'epoch_1.pth'), 1)
    assert find_resume_checkpoint(copy) == osp.join(copy, 'epoch_1.pth')
