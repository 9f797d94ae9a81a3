"""configs/mctformer/metafile.yaml: in the model index, complete, harmless to mmengine."""
import glob
import os.path as osp

import yaml
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
METAFILE = osp.join(ROOT, 'configs', 'mctformer', 'metafile.yaml')


def test_model_index_lists_the_metafile_and_every_config_is_in_it():
    with open(osp.join(ROOT, 'mmseg_mctformer', '.mim', 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert index['Import'] == ['configs/mctformer/metafile.yaml']
    # the index is read relative to .mim, where configs/ links to the repository's configs
    assert osp.isfile(osp.join(ROOT, 'mmseg_mctformer', '.mim', index['Import'][0]))
    with open(METAFILE) as f:
        meta = yaml.safe_load(f)
    collections = {c['Name'] for c in meta['Collections']}
    listed = set()
    for model in meta['Models']:
        assert model['In Collection'] in collections, model['Name']
        assert osp.basename(model['Config']) == model['Name'] + '.py'
        assert osp.isfile(osp.join(ROOT, model['Config'])), model['Config']
        listed.add(model['Config'])
    shipped = {osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs/mctformer/*.py'))}
    assert listed == shipped
    for c in meta['Collections']:
        assert osp.isfile(osp.join(ROOT, c['README']))


def test_package_scope_bases_still_resolve_with_the_index(tmp_path):
    """mmengine reads the metafiles first for ``mmseg_mctformer::`` paths, then falls back."""
    cfg_file = tmp_path / 'mine.py'
    cfg_file.write_text("_base_ = ['mmseg_mctformer::mctformer/"
                        "mctformer-plus_deit-s_1xb32-45e_voc12aug-448x448.py']\n")
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.model.type == 'MCTformer' and cfg.model.backbone.num_classes == 20
