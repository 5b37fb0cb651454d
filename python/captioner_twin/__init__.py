"""The PyTorch twin of Captioner's decoders and the weight interchange with `caption import`/`export`."""
from .interchange import ARCHITECTURES, build, load_exported, save_for_import
from .models import AdaptiveAttention, ShowTell, SoftAttention, caption_loss

__all__ = ["ARCHITECTURES", "AdaptiveAttention", "ShowTell", "SoftAttention", "build", "caption_loss",
           "load_exported", "save_for_import"]
