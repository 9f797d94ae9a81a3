"""The pipeline's results table: the paper's column (VOC numbers) only for a VOC stage 1."""
import pytest

from mmseg_mctformer.pipeline import WSSSPipeline, format_table

STATE = dict(seeds=dict(cls_mAP=60.0, seed_mIoU=50.0), pseudo_eval=dict(pseudo_mIoU=51.0),
             masks=dict(mask_mIoU=56.0), segmentation=dict(mIoU=53.0))


def _table(config, tmp_path):
    pipeline = WSSSPipeline(config, 'unused_seg_config.py', str(tmp_path))
    pipeline.state = dict(STATE)
    return pipeline.table()


def test_voc_rows_carry_the_papers_numbers(tmp_path):
    rows = {r['key']: r for r in _table('configs/mctformer_plus_voc.py', tmp_path)}
    assert rows['seed_mIoU']['paper_voc'] == 68.8 and rows['mask_mIoU']['paper_voc'] == 76.2
    # the paper's 76.2 is the mask row's: its seeds are not masks
    assert rows['pseudo_mIoU']['paper_voc'] is None
    text = format_table(list(rows.values()))
    assert text.splitlines()[0] == '| metric | name | ours | paper (VOC) |'
    assert rows['seed_mIoU']['paper_split'] == 'train' and '| 68.8 (train) |' in text


def test_other_datasets_have_no_paper_column(tmp_path):
    for config in ('configs/mctformer_plus_demo.py', 'configs/mctformer_plus_coco.py'):
        rows = _table(config, tmp_path)
        assert all(r['paper_voc'] is None for r in rows)
        text = format_table(rows)
        assert text.splitlines()[0] == '| metric | name | ours |' and 'paper' not in text
        assert '| 50.0 |' in text


def test_stages_run_in_the_listed_order_and_by_the_options(tmp_path):
    from mmseg_mctformer.pipeline.stages import STAGES
    assert WSSSPipeline.STAGES == ('stage1', 'seeds', 'pseudo_labels', 'pseudo_eval', 'affinity',
                                   'masks', 'segmentation', 'segmentation_gt')
    plain = WSSSPipeline('configs/mctformer_plus_voc.py', 'seg.py', str(tmp_path))
    full = WSSSPipeline('configs/mctformer_plus_voc.py', 'seg.py', str(tmp_path),
                        gt_baseline=True, aff_config='aff.py')
    assert [s.name for s in STAGES if s.enabled(plain)] == [
        'stage1', 'seeds', 'pseudo_labels', 'pseudo_eval', 'segmentation']
    assert [s.name for s in STAGES if s.enabled(full)] == list(WSSSPipeline.STAGES)
    with pytest.raises(KeyError, match="unknown pipeline stage 'seed'"):
        plain.run_stage('seed')


def test_the_papers_numbers_are_the_metafiles(tmp_path):
    """The paper column reads the VOC MCTformer+ entry of configs/mctformer/metafile.yaml."""
    import os.path as osp

    import yaml

    from mmseg_mctformer.pipeline import PAPER_VOC_MODEL
    from mmseg_mctformer.utils.metafile import METAFILE
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    # the package reads its installed copy, which in the repository is configs/ itself
    assert osp.samefile(METAFILE, osp.join(root, 'configs', 'mctformer', 'metafile.yaml'))
    with open(METAFILE) as f:
        entry = [m for m in yaml.safe_load(f)['Models'] if m['Name'] == PAPER_VOC_MODEL][0]
    metrics = {k: v for r in entry['Results'] for k, v in r['Metrics'].items()}
    rows = {r['key']: r for r in _table('configs/mctformer_plus_voc.py', tmp_path)}
    assert rows['seed_mIoU']['paper_voc'] == metrics['seed/train/mIoU']
    assert rows['mask_mIoU']['paper_voc'] == metrics['mask/train/mIoU']
    assert rows['seg_mIoU']['paper_voc'] == metrics['seg/val/mIoU']
    assert rows['seg_mIoU']['paper_split'] == 'val' and rows['mask_mIoU']['paper_split'] == 'train'
    assert rows['cls_mAP']['paper_voc'] is None
    # without the affinity stage the pseudo-mask row compares with the paper's masks
    pipeline = WSSSPipeline('configs/mctformer_plus_voc.py', 'unused_seg_config.py',
                            str(tmp_path))
    pipeline.state = {k: v for k, v in STATE.items() if k != 'masks'}
    pseudo = {r['key']: r for r in pipeline.table()}['pseudo_mIoU']
    assert pseudo['paper_voc'] == metrics['mask/train/mIoU'] and pseudo['paper_split'] == 'train'
