"""Features per modality (chapters 02-03, 07): F_x = CNN(X) for images, F_y = Word2Vec(Y) for notes,
F_s = CNN(signal) for ECG traces, F_v = GRU(CNN(frames)) for video clips (chapter 08); ``ImageRecipe``, the image
classifier that chooses its settings on the data (chapter 06, ``make bench``).

``image``, ``signal`` and ``video`` import TensorFlow only when a function is called, so ``import crossmodal_lib.features``
stays quick.
"""

from crossmodal_lib.features.image import build_cnn, feature_extractor, image_features, train_cnn
from crossmodal_lib.features.image_recipe import ImageRecipe
from crossmodal_lib.features.signal import build_signal_cnn, signal_features
from crossmodal_lib.features.text import (
    document_vectors,
    fit_idf,
    load_vectors,
    pretrain_word2vec,
    save_vectors,
    train_word2vec,
)
from crossmodal_lib.features.video import build_video_cnn, frame_layers, video_features

__all__ = [
    "ImageRecipe",
    "build_cnn",
    "build_signal_cnn",
    "build_video_cnn",
    "document_vectors",
    "feature_extractor",
    "fit_idf",
    "frame_layers",
    "image_features",
    "load_vectors",
    "pretrain_word2vec",
    "save_vectors",
    "signal_features",
    "train_cnn",
    "train_word2vec",
    "video_features",
]
