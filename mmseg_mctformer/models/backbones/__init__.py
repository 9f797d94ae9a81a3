from .mct_vit import (
    MultiClassTokenAttention,
    MultiClassTokenEncoderLayer,
    MultiClassTokenViT,
    tokens_to_map,
)

__all__ = [
    'MultiClassTokenViT', 'MultiClassTokenAttention', 'MultiClassTokenEncoderLayer',
    'tokens_to_map'
]
