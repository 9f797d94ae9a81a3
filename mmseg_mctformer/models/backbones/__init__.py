from .mct_vit import (
    MultiClassTokenAttention,
    MultiClassTokenEncoderLayer,
    MultiClassTokenViT,
    class_token_attention,
    tokens_to_map,
)

__all__ = [
    'MultiClassTokenViT', 'MultiClassTokenAttention', 'MultiClassTokenEncoderLayer',
    'class_token_attention', 'tokens_to_map'
]
