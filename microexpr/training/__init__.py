"""Training: a fold's data (:mod:`.data`), which weights it tests (:mod:`.selection`), the loop
(:mod:`.loop`), checkpoints (:mod:`.checkpoints`), one LOSO fold (:mod:`.fold`), ensembles and
choices (:mod:`.combine`) and the final model (:mod:`.final`)."""

from ..errors import FoldError
from ..train_settings import TrainConfig
from .data import ArrayData, class_probabilities, load_shards, normalise
from .final import final_epochs, final_plan, train_final
from .fold import train_fold
from .loop import build_model, data_streams, lr_factor, pick_device
from .selection import validation_clips

__all__ = ["ArrayData", "FoldError", "TrainConfig", "build_model", "class_probabilities", "data_streams",
           "final_epochs", "final_plan", "load_shards", "lr_factor", "normalise", "pick_device", "train_final",
           "train_fold", "validation_clips"]
