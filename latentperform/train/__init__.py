"""`latentperform train FOLDER --out my-model.pt`: grow a generator from the user's pictures.

    data.py     the folder of pictures -> a tensor (resized, centre-cropped), a held-out part
    augment.py  adaptive augmentation for small sets (the ADA idea: more when it overfits)
    quality.py  the figures: held-out reconstruction error, precision/recall of samples
    loop.py     the training loop: progress, sample grids, checkpoints that resume

The network is models.trained (a VAE whose decoder is a StyleGAN-like generator); the result is
a generator kind the engine plays like any other.  Nothing in the package imports this one.
"""

from .loop import TrainSettings, train

__all__ = ["TrainSettings", "train"]
