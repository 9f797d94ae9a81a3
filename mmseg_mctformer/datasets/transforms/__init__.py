from .affinity import (
    GenerateAffinityLabel,
    LoadLocalizationMaps,
    PackAffinityInputs,
    alpha_threshold,
)
from .formatting import PackWSSSInputs
from .loading import LoadCheckedImageFromFile, LoadImageLevelLabels
from .random_erasing import TimmRandomErasing
from .wsol_loading import LoadWSOLAnnotations

__all__ = [
    'GenerateAffinityLabel', 'LoadLocalizationMaps', 'PackAffinityInputs', 'alpha_threshold',
    'LoadCheckedImageFromFile', 'LoadImageLevelLabels', 'PackWSSSInputs', 'TimmRandomErasing',
    'LoadWSOLAnnotations'
]
