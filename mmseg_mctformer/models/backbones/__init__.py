from .cached_two_path import CachedTwoPathBackbone
from .mct_vit import (
    ATTN_PATHS,
    BlockAttention,
    MCTViTOutput,
    MultiClassTokenAttention,
    MultiClassTokenEncoderLayer,
    MultiClassTokenViT,
    attention_kernel,
    class_token_attention,
    tokens_to_map,
)
from .two_path import TwoPathBackbone

__all__ = [
    'MultiClassTokenViT', 'MultiClassTokenAttention', 'MultiClassTokenEncoderLayer',
    'MCTViTOutput', 'BlockAttention', 'ATTN_PATHS', 'attention_kernel', 'class_token_attention',
    'tokens_to_map', 'TwoPathBackbone', 'CachedTwoPathBackbone'
]
