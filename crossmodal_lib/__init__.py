"""crossmodal_lib: the code the course "Cross-modal deep learning for medicine" teaches.

The modules follow the course's spine (each imports only what comes before it):

    data        (chapter 00-01) the embedded cohort, the folder format, loaders, splits
    preprocess  (chapter 01)    image and text preprocessing
    features    (chapters 02-03) F_x = CNN(X), F_y = Word2Vec(Y)
    fusion      (chapter 04)    Z = MLP(F_x, F_y): early, joint, late, gated
    evaluate    (chapter 05)    metrics, confidence intervals, plots
    pipeline    (chapter 05)    the whole pipeline as one call (``python -m crossmodal_lib train``)

``course`` holds the one-line notebook setup (seeds, threads, logging, fast mode).
"""

import os as _os

# TensorFlow reads these when it is first imported; setting them here, before any module of the course can import
# it, keeps C++ log lines (which make notebook outputs differ between runs) out of every notebook and test.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"
