"""The course's models, one small file per idea."""

from course_lib.models.attention import (AdditiveAttention, MultiHeadAttention, MultiplicativeAttention,
                                         scaled_dot_product_attention)
from course_lib.models.clip import MiniCLIP
from course_lib.models.autoencoder import Autoencoder, LinearAutoencoder, MLPAutoencoder, make_autoencoder
from course_lib.models.cnn import DigitsCNN
from course_lib.models.cnn_attention import AttentionCNN, NonLocalBlock, SpatialAttention, SqueezeExcitation
from course_lib.models.conv_autoencoder import ConvAutoencoder
from course_lib.models.llava import MiniLLaVA, TinyLM
from course_lib.models.lora import LoRALinear, add_lora
from course_lib.models.pca import PCA
from course_lib.models.restoration import Colouriser, SuperResolver
from course_lib.models.seq2seq import Seq2Seq
from course_lib.models.transformer import TinyTransformer, TransformerEncoder
from course_lib.models.unet import UNet
from course_lib.models.vae import VAE
from course_lib.models.visual_attention import VisualAttention
from course_lib.models.vit import PatchEmbedding, ViT, patchify

__all__ = ["PCA", "Autoencoder", "LinearAutoencoder", "MLPAutoencoder", "make_autoencoder", "ConvAutoencoder",
           "Colouriser", "SuperResolver",
           "DigitsCNN", "AdditiveAttention", "MultiplicativeAttention", "MultiHeadAttention",
           "scaled_dot_product_attention", "TinyTransformer", "TransformerEncoder", "Seq2Seq", "VisualAttention",
           "MiniCLIP", "UNet", "VAE", "MiniLLaVA", "TinyLM", "LoRALinear", "add_lora",
           "ViT", "PatchEmbedding", "patchify", "SqueezeExcitation", "SpatialAttention", "NonLocalBlock", "AttentionCNN"]
