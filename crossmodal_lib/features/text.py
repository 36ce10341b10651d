"""Text features with Word2Vec: F_y = Word2Vec(Y) (chapter 03).

``train_word2vec`` learns one vector per word from the notes' *tokens* (the inputs, never the labels);
``document_vectors`` turns each note into one vector (the mean, or the IDF-weighted mean, of its words' vectors);
``fit_idf`` learns the IDF weights on the training notes. ``pretrain_word2vec`` learns vectors on any external text
file, and ``save_vectors`` / ``load_vectors`` store them in the plain word2vec format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from gensim.models import KeyedVectors, Word2Vec


def _check_token_lists(token_lists, what: str = "token_lists") -> list[list[str]]:
    if isinstance(token_lists, str) or not isinstance(token_lists, Sequence):
        raise ValueError(
            f"{what} must be a list of token lists (one per note), got {type(token_lists).__name__}"
        )
    for i, tokens in enumerate(token_lists):
        if isinstance(tokens, str) or not isinstance(tokens, Sequence):
            raise ValueError(
                f"{what}[{i}] is a {type(tokens).__name__}, not a list of tokens; tokenise the notes first "
                "(crossmodal_lib.preprocess.tokenize_all)"
            )
        for tok in tokens:
            if not isinstance(tok, str):
                raise ValueError(f"{what}[{i}] holds {tok!r}, not a string token")
    return [list(t) for t in token_lists]


def train_word2vec(
    token_lists: Sequence[Sequence[str]],
    vector_size: int = 64,
    window: int = 5,
    min_count: int = 2,
    epochs: int = 30,
    seed: int = 0,
    sg: int = 1,
) -> KeyedVectors:
    """Train gensim Word2Vec on tokenised notes and return its word vectors (chapter 03).

    Skip-gram (``sg=1``) by default: on a small corpus it learns rare clinical words better than CBOW.
    ``workers=1`` and a fixed ``seed`` make the vectors bit-identical between runs and machines (with more
    worker threads the order of updates, and so the vectors, change from run to run).
    Words seen fewer than ``min_count`` times get no vector.
    """
    token_lists = _check_token_lists(token_lists)
    if not any(token_lists):
        raise ValueError("the corpus is empty: no notes, or only notes without tokens")
    model = Word2Vec(vector_size=vector_size, window=window, min_count=min_count, sg=sg, workers=1, seed=seed)
    model.build_vocab(token_lists)
    if len(model.wv) == 0:
        raise ValueError(
            f"no word occurs at least min_count={min_count} times in the {len(token_lists)} notes; "
            "lower min_count or use more notes"
        )
    model.train(token_lists, total_examples=model.corpus_count, epochs=epochs)
    return model.wv


def fit_idf(token_lists: Sequence[Sequence[str]]) -> dict[str, float]:
    """Inverse document frequency of every token in ``token_lists`` (fit it on the training notes) (chapter 03).

    Uses scikit-learn's smoothed IDF, ``idf(w) = ln((1 + n) / (1 + df(w))) + 1``: a word in every note gets 1,
    a word in one note of n gets about ``ln(n) + 1``. Keys are sorted, so the dict is the same on every run.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    token_lists = _check_token_lists(token_lists)
    if not any(token_lists):
        raise ValueError("the corpus is empty: no notes, or only notes without tokens")
    # The notes are already tokens: an identity analyzer keeps them as they are (no second tokenisation).
    vec = TfidfVectorizer(analyzer=_identity, lowercase=False, smooth_idf=True).fit(token_lists)
    return {w: float(vec.idf_[i]) for w, i in sorted(vec.vocabulary_.items())}


def _identity(tokens):
    return tokens


def document_vectors(
    kv: KeyedVectors,
    token_lists: Sequence[Sequence[str]],
    weighting: str = "mean",
    idf: dict[str, float] | None = None,
    pooling: str = "mean",
) -> np.ndarray:
    """One vector per note from its words' vectors: float32 (n, vector_size) (chapter 03).

    * ``weighting="mean"``: the plain average of the vectors of the note's known words (a word that occurs twice
      counts twice);
    * ``weighting="tfidf"``: the average weighted by ``idf`` (from ``fit_idf``; term frequency enters through the
      repeats), so rare, specific words ("hemoptysis") count more than words in every note ("patient"). A known
      word missing from ``idf`` gets the largest IDF (it was never seen in the notes ``idf`` was fitted on).
    * ``pooling="mean+max+min"`` (chapter 14): the (weighted) average, then the largest and the smallest value of
      each dimension over the note's words, side by side: (n, 3 x vector_size). One telling word ("febrile" in a
      long note) is diluted in the average but sets a maximum; on the cohort a linear probe of the syndromes
      rose from 0.92 / 0.97 / 0.97 (mean) to 0.94 / 0.98 / 0.98 (test ROC-AUC, fast mode, 64 dimensions).

    Words without a vector (rare or unseen words) are skipped; a note with no known word gets the zero vector,
    which a downstream classifier sees as "no text information".
    """
    if weighting not in ("mean", "tfidf"):
        raise ValueError(f'weighting must be "mean" or "tfidf", got {weighting!r}')
    if pooling not in ("mean", "mean+max+min"):
        raise ValueError(f'pooling must be "mean" or "mean+max+min", got {pooling!r}')
    if weighting == "tfidf" and not idf:
        raise ValueError('weighting="tfidf" needs idf=fit_idf(training token lists)')
    token_lists = _check_token_lists(token_lists)
    default_idf = max(idf.values()) if idf else 1.0
    d = kv.vector_size
    out = np.zeros((len(token_lists), d if pooling == "mean" else 3 * d), dtype=np.float32)
    for i, tokens in enumerate(token_lists):
        known = [t for t in tokens if t in kv.key_to_index]
        if not known:
            continue
        vecs = np.stack([kv[t] for t in known]).astype(np.float64)
        if weighting == "mean":
            out[i, :d] = vecs.mean(axis=0)
        else:
            w = np.array([idf.get(t, default_idf) for t in known], dtype=np.float64)
            out[i, :d] = (w[:, None] * vecs).sum(axis=0) / w.sum()
        if pooling == "mean+max+min":
            out[i, d:] = np.concatenate([vecs.max(axis=0), vecs.min(axis=0)])
    return out


class TokenizedLines:
    """A restartable iterable over the tokens of each non-empty line of a text file (one document per line).

    Word2Vec reads its corpus several times (once for the vocabulary, once per epoch), so a generator that runs
    out after one pass will not do; this class opens the file again on every pass, so the file never has to fit
    in memory.
    """

    def __init__(self, path: str | Path, tokenizer: Callable[[str], list[str]] | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"corpus file {self.path} does not exist")
        if tokenizer is None:
            from crossmodal_lib.preprocess.text import tokenize as tokenizer
        self.tokenizer = tokenizer

    def __iter__(self) -> Iterator[list[str]]:
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.strip():
                    tokens = self.tokenizer(line)
                    if tokens:
                        yield tokens


def pretrain_word2vec(
    corpus: str | Path | Iterable[Sequence[str]],
    vector_size: int = 64,
    window: int = 5,
    min_count: int = 5,
    epochs: int = 5,
    seed: int = 0,
    sg: int = 1,
    tokenizer: Callable[[str], list[str]] | None = None,
) -> KeyedVectors:
    """Word vectors learned on an external corpus: a text file (one document per line) or token lists (chapter 03).

    The file is streamed (``TokenizedLines``) with the course's ``tokenize`` unless ``tokenizer`` is given, so
    the vectors speak the same token language as the notes (``no_fever``, expanded abbreviations).
    Deterministic like ``train_word2vec`` (``workers=1``, fixed ``seed``).
    """
    sentences = TokenizedLines(corpus, tokenizer) if isinstance(corpus, str | Path) else corpus
    if iter(sentences) is sentences:
        raise ValueError(
            "corpus is a one-pass iterator (a generator?); Word2Vec reads the corpus once per epoch: "
            "pass a list of token lists, or a file path"
        )
    model = Word2Vec(vector_size=vector_size, window=window, min_count=min_count, sg=sg, workers=1, seed=seed)
    model.build_vocab(sentences)
    if len(model.wv) == 0:
        raise ValueError(f"the corpus has no word that occurs at least min_count={min_count} times")
    model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    return model.wv


def save_vectors(kv: KeyedVectors, path: str | Path, binary: bool = False) -> Path:
    """Save word vectors in the word2vec text (or binary) format (chapter 03).

    Why not ``kv.save``/``KeyedVectors.load``: gensim's native format is a pickle, and unpickling a file can run
    arbitrary code; the word2vec format is plain words and numbers, readable by any tool, and safe to load from
    a file someone sent you. (It stores the vectors only, which is all the course needs.)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kv.save_word2vec_format(str(path), binary=binary)
    return path


def load_vectors(path: str | Path, binary: bool = False) -> KeyedVectors:
    """Load word vectors saved by ``save_vectors`` (or any word2vec-format file, e.g. published vectors) (chapter 03)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"word-vector file {path} does not exist")
    return KeyedVectors.load_word2vec_format(str(path), binary=binary)
