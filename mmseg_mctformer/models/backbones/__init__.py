from .mct_vit import (
    MultiClassTokenAttention,
    MultiClassTokenEncoderLayer,
    MultiClassTokenViT,
    class_token_attention,
    tokens_to_map,
)
from .two_path import TwoPathBackbone

__all__ = [
    'MultiClassTokenViT', 'MultiClassTokenAttention', 'MultiClassTokenEncoderLayer',
    'class_token_attention', 'tokens_to_map',
    'TwoPathBackbone'
]
