from .class_token_head import ClassTokenPoolHead
from .localization_head import MCTLocalizationHead
from .patch_cam_head import PatchCAMHead

__all__ = ['ClassTokenPoolHead', 'MCTLocalizationHead', 'PatchCAMHead']
