from .affinity import (
    GenerateAffinityLabel,
    LoadLocalizationMaps,
    PackAffinityInputs,
    alpha_threshold,
)
from .formatting import PackWSSSInputs
from .loading import LoadCheckedImageFromFile, LoadImageLevelLabels
from .pipelines import wsss_test_pipeline, wsss_train_pipeline
from .random_erasing import TimmRandomErasing
from .wsol_loading import LoadWSOLAnnotations

__all__ = [
    'GenerateAffinityLabel', 'LoadLocalizationMaps', 'PackAffinityInputs', 'alpha_threshold',
    'LoadCheckedImageFromFile', 'LoadImageLevelLabels', 'PackWSSSInputs', 'TimmRandomErasing',
    'wsss_train_pipeline', 'wsss_test_pipeline', 'LoadWSOLAnnotations'
]
