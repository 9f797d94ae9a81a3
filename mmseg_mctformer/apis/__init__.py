from .cli import add_common_args, parse_with_local_rank
from .config_utils import build_runner, close_process_group, enable_amp, load_config

__all__ = ['add_common_args', 'parse_with_local_rank', 'build_runner',
           'close_process_group', 'enable_amp', 'load_config']
