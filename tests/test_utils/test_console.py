import io
import logging
import warnings

from mmseg_mctformer.utils.console import (
    DropParamwiseOptions,
    filter_known_warnings,
    quiet_console_handlers,
    quiet_imports,
)


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


def _record(msg, level=logging.INFO):
    return logging.LogRecord('x', level, '', 0, msg, None, None)


def test_frozen_parameter_and_file_client_lines_are_dropped():
    keep = DropParamwiseOptions().filter
    assert not keep(_record('backbone.ln1.weight is skipped since its requires_grad=False'))
    assert not keep(_record('"FileClient" will be deprecated in future. Please use io functions'))
    assert not keep(_record('"HardDiskBackend" is the alias of "LocalBackend" and the former'))
    assert keep(_record('Checkpoints will be saved to work_dirs/x.'))


def test_startup_records_and_threshold_table_stay_off_the_console(tmp_path):
    console = logging.StreamHandler(io.StringIO())
    file_handler = logging.FileHandler(str(tmp_path / 'run.log'))
    logger = logging.Logger('quiet_console_test')
    logger.addHandler(console)
    logger.addHandler(file_handler)
    quiet_console_handlers(logger)  # the console handler only
    for msg in ('\n' + '-' * 60 + '\nSystem environment:\n    sys.platform: linux',
                'Config:\nmodel = dict(...)', 'Hooks will be executed in the following order:',
                'seed mIoU per background threshold:\n+---+', 'Epoch(train) [1][1/4]'):
        logger.info(msg)
    file_handler.close()
    assert console.stream.getvalue() == 'Epoch(train) [1][1/4]\n'
    log = (tmp_path / 'run.log').read_text()
    assert 'System environment' in log and 'Config:' in log and 'per background threshold' in log


def test_known_warnings_are_ignored():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        filter_known_warnings()
        warnings.warn("Only use 'alpha' for pillow backend.")
        warnings.warn('The draw is False, it means that the hook for visualization will not '
                      'take effect.')
        warnings.warn('something else')
    assert [str(w.message) for w in caught] == ['something else']
