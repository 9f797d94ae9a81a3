from .config_variables import TOP_LEVEL_VARIABLES, check_config_paths, sync_top_level_variables
from .pseudo_label_loop import PseudoLabelLoop, build_full_dataset, subset_dataset
from .runner_utils import (
    adapt_distributed_to_cpu,
    build_runner,
    close_process_group,
    enable_amp,
    enable_amp_inference,
    init_cpu_process_group,
    load_config,
    parse_dict_values,
    resolve_resume_checkpoint,
    set_bg_threshold,
    set_init_from_stage1,
    set_pseudo_label_dir,
    sub_config,
)

__all__ = [
    'PseudoLabelLoop', 'TOP_LEVEL_VARIABLES', 'adapt_distributed_to_cpu', 'build_full_dataset',
    'build_runner', 'check_config_paths', 'close_process_group', 'enable_amp',
    'enable_amp_inference', 'init_cpu_process_group', 'load_config', 'parse_dict_values',
    'resolve_resume_checkpoint', 'set_bg_threshold', 'set_init_from_stage1',
    'set_pseudo_label_dir', 'sub_config', 'subset_dataset', 'sync_top_level_variables'
]
