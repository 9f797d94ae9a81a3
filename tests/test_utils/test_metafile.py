"""read_metafile_metrics: one model's Results metrics, errors naming the file, model and key."""
import pytest

from mmseg_mctformer.utils.metafile import read_metafile_metrics

METAFILE = """\
Models:
- Name: a
  Results:
  - Task: t
    Dataset: d
    Metrics:
      seed/train/mIoU: 60.5
  - Task: t2
    Dataset: d
    Metrics:
      seg/val/mIoU: 70.0
- Name: b
"""


def test_reads_the_metrics_of_every_result_of_the_entry(tmp_path):
    path = tmp_path / 'metafile.yaml'
    path.write_text(METAFILE)
    assert read_metafile_metrics('a', iter(['seg/val/mIoU', 'seed/train/mIoU']),
                                 str(path)) == {'seg/val/mIoU': 70.0, 'seed/train/mIoU': 60.5}


def test_a_missing_entry_or_metric_names_file_model_and_key(tmp_path):
    path = tmp_path / 'metafile.yaml'
    path.write_text(METAFILE)
    with pytest.raises(KeyError, match=r"metafile.yaml: no Models entry named 'c'"):
        read_metafile_metrics('c', ['seed/train/mIoU'], str(path))
    with pytest.raises(KeyError, match=r"metafile.yaml: Models entry 'a' has no Results metric "
                                       r"'mask/train/mIoU'"):
        read_metafile_metrics('a', ['seed/train/mIoU', 'mask/train/mIoU'], str(path))
    with pytest.raises(KeyError, match=r"Models entry 'b' has no Results metric"):
        read_metafile_metrics('b', ['seed/train/mIoU'], str(path))


def test_the_installed_metafile_holds_the_papers_voc_numbers():
    assert read_metafile_metrics('mctformer-plus_deit-s_1xb32-45e_voc12aug-448x448',
                                 ['seed/train/mIoU', 'mask/train/mIoU', 'seg/val/mIoU']) == {
        'seed/train/mIoU': 68.8, 'mask/train/mIoU': 76.2, 'seg/val/mIoU': 74.0}
