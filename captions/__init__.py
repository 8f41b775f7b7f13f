"""Caption text work: subcaptions, panel alignment, concepts and modality (issue 4)."""

from captions.subcaptions import Subcaption, split_caption

__all__ = ["Subcaption", "split_caption"]
