import logging

from mmseg_mctformer.utils.console import DropParamwiseOptions, quiet_imports


def test_quiet_imports_drops_only_the_onedl_line(capsys):
    with quiet_imports():
        print('Could not import OneDL')
        print('something else')
    assert capsys.readouterr().out == 'something else\n'


def test_paramwise_lines_are_dropped():
    make = logging.LogRecord
    keep = make('x', logging.INFO, '', 0, 'Epoch(train) [1][1/4]', None, None)
    drop = make('x', logging.INFO, '', 0, 'paramwise_options -- cls_token:lr=0.003', None, None)
    assert DropParamwiseOptions().filter(keep) and not DropParamwiseOptions().filter(drop)
