"""The PyTorch twin of Captioner's decoders, their step-by-step form for searches, and the weight interchange with `caption import`/`export`."""
from .interchange import ARCHITECTURES, build, load_exported, save_for_import
from .models import AdaptiveAttention, ShowTell, SoftAttention, caption_loss
from .stepping import Stepper

__all__ = ["ARCHITECTURES", "AdaptiveAttention", "ShowTell", "SoftAttention", "Stepper", "build", "caption_loss",
           "load_exported", "save_for_import"]
