from .drop_path import LeanDropPath
from .feature_cache import FrozenFeatureCache
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
from .random_walk import (
    affinity_pair_labels,
    neighbour_weights,
    pair_valid_mask,
    pairwise_affinity,
    radius_offsets,
    random_walk,
    transition_matrix,
)
from .seed import kept_class_mask, seed_labels, seed_scores, warn_no_class_kept

__all__ = [
    'FrozenFeatureCache', 'LeanDropPath', 'MAP_TYPES', 'POOL_MODES', 'affinity_pair_labels',
    'class_to_patch_attention', 'fuse_maps',
    'global_pool', 'gwrp_pool', 'kept_class_mask', 'localization_maps', 'minmax_normalise',
    'neighbour_weights', 'pair_valid_mask', 'pairwise_affinity', 'patch_affinity',
    'radius_offsets', 'random_walk', 'refine_with_affinity', 'refine_with_attention_affinity',
    'seed_labels', 'seed_scores', 'select_layers', 'transition_matrix', 'warn_no_class_kept'
]
