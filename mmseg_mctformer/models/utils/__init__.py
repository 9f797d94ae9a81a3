from .localization import (
    MAP_TYPES,
    class_to_patch_attention,
    fuse_maps,
    localization_maps,
    minmax_normalise,
    patch_affinity,
    refine_with_affinity,
    refine_with_attention_affinity,
    select_layers,
)
from .pooling import POOL_MODES, global_pool, gwrp_pool
from .seed import kept_class_mask, seed_labels, seed_scores

__all__ = [
    'MAP_TYPES', 'POOL_MODES', 'class_to_patch_attention', 'fuse_maps', 'global_pool',
    'gwrp_pool', 'kept_class_mask', 'localization_maps', 'minmax_normalise', 'patch_affinity',
    'refine_with_affinity', 'refine_with_attention_affinity', 'seed_labels', 'seed_scores',
    'select_layers'
]
