"""Top-level num_classes / pretrained / data_root reach their keys; missing weights are named."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmseg_mctformer.engine.runner import load_config
from mmseg_mctformer.engine.runner.config_variables import (
    check_config_paths,
    sync_top_level_variables,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs', 'mctformer_plus_demo.py')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'pseudo_label_dataloader')


def _child(tmp_path, body, name='mine.py'):
    path = tmp_path / name
    path.write_text(f"_base_ = [{DEMO!r}]\n" + body)
    return str(path)


def _num_classes(cfg):
    m = cfg.model
    return m.backbone.num_classes, m.cls_head.num_classes, m.cam_head.num_classes


def test_shipped_configs_are_already_in_sync():
    for path in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True):
        if '_base_' not in path:
            assert sync_top_level_variables(Config.fromfile(path)) == [], path


def test_variables_set_once_in_an_inheriting_config(tmp_path):
    cfg = load_config(_child(tmp_path, "num_classes = 10\npretrained = 'w/dino.pth'\n"
                             "data_root = '/data/mine'\n"))
    assert _num_classes(cfg) == (10, 10, 10)
    assert cfg.model.backbone.init_cfg.checkpoint == 'w/dino.pth'
    assert {cfg[k].dataset.data_root for k in LOADERS} == {'/data/mine'}


def test_variables_from_cfg_options_and_keys_set_one_by_one(tmp_path):
    cfg = load_config(DEMO, {'num_classes': 3, 'model.backbone.init_cfg.checkpoint': 'x.pth'})
    assert _num_classes(cfg) == (3, 3, 3)
    assert cfg.model.backbone.init_cfg.checkpoint == 'x.pth'  # the key itself wins
    # one nested key set by hand stays; the model then refuses the mismatch by itself
    cfg = load_config(_child(tmp_path, 'model = dict(backbone=dict(num_classes=10))\n'))
    assert _num_classes(cfg) == (10, 6, 6)


def test_missing_weights_name_the_key(tmp_path):
    cfg = load_config(_child(tmp_path, "pretrained = 'nowhere/dino.pth'\n"))
    with pytest.raises(FileNotFoundError, match=r"mine\.py: model\.backbone\.init_cfg\."
                       r"checkpoint = 'nowhere/dino\.pth' does not exist \(relative paths are "
                       r"read from the working folder .*\); set the config's top-level "
                       r"`pretrained"):
        check_config_paths(cfg)
    weights = tmp_path / 'dino.pth'
    weights.write_bytes(b'')
    cfg = load_config(_child(tmp_path, f"pretrained = {str(weights)!r}\nload_from = 'a/b.pth'\n"))
    with pytest.raises(FileNotFoundError, match=r"load_from = 'a/b\.pth' does not exist.*"
                       r"--cfg-options load_from="):
        load_config(cfg.filename, check_paths=True)
    cfg.load_from = 'https://example.org/w.pth'
    check_config_paths(cfg)  # URLs are mmengine's to fetch
