"""The course's models, one small file per idea."""

from course_lib.models.autoencoder import Autoencoder, LinearAutoencoder, MLPAutoencoder, make_autoencoder
from course_lib.models.conv_autoencoder import ConvAutoencoder
from course_lib.models.cnn import DigitsCNN
from course_lib.models.pca import PCA

__all__ = ["PCA", "Autoencoder", "LinearAutoencoder", "MLPAutoencoder", "make_autoencoder", "ConvAutoencoder", "DigitsCNN"]
