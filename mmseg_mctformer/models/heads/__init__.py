from .class_token_head import ClassTokenPoolHead
from .patch_cam_head import PatchCAMHead

__all__ = ['ClassTokenPoolHead', 'PatchCAMHead']
