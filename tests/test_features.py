"""Unit tests of crossmodal_lib.features (chapters 02-03) on tiny synthetic images and token lists."""

import numpy as np
import pytest

from crossmodal_lib.features import (
    build_cnn,
    document_vectors,
    feature_extractor,
    fit_idf,
    image_features,
    load_vectors,
    pretrain_word2vec,
    save_vectors,
    train_cnn,
    train_word2vec,
)

SHAPE = (16, 16, 1)


@pytest.fixture(scope="module", autouse=True)
def _course_setup():
    from crossmodal_lib.course import setup

    setup(seed=0)


def _tiny_images(n=24, seed=0):
    """Class 1 has a bright square in the top-left corner; class 0 does not."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, *SHAPE), dtype=np.float32) * 0.3
    y = np.arange(n) % 2
    x[y == 1, 2:7, 2:7, 0] += 0.6
    return x, y


# --------------------------------------------------------------------------------------------------------- the CNN
def test_build_cnn_shapes_and_softmax():
    model = build_cnn(SHAPE, n_classes=3, feature_dim=8)
    assert model.get_layer("features").output.shape[-1] == 8
    assert model.output_shape == (None, 3)
    x, _ = _tiny_images(5)
    p = model.predict(x, verbose=0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert build_cnn(SHAPE, n_classes=2).output_shape == (None, 2)
    assert [layer.name for layer in model.layers if layer.name.startswith("conv")] == [
        "conv1",
        "conv2",
        "conv3",
    ]


def test_build_cnn_same_seed_same_weights():
    w1, w2 = build_cnn(SHAPE, seed=4).get_weights(), build_cnn(SHAPE, seed=4).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2, strict=True))
    w3 = build_cnn(SHAPE, seed=5).get_weights()
    assert not np.array_equal(w1[0], w3[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_shape": (16, 16)}, "input_shape"),
        ({"input_shape": (8, 8, 1)}, "too small"),
        ({"n_classes": 1}, "n_classes"),
        ({"feature_dim": 0}, "feature_dim"),
        ({"filters": ()}, "filters"),
    ],
)
def test_build_cnn_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_cnn(**{"input_shape": SHAPE, **kwargs})


def test_train_cnn_is_deterministic_and_features_have_the_right_shape():
    x, y = _tiny_images(24)
    feats = []
    for _ in range(2):
        model = build_cnn(SHAPE, n_classes=2, feature_dim=8, seed=0)
        history = train_cnn(model, x[:16], y[:16], x[16:], y[16:], epochs=2, batch_size=8, seed=0)
        assert set(history.history) >= {"loss", "val_loss", "accuracy"}
        assert len(history.history["loss"]) <= 2
        feats.append(image_features(model, x))
    assert feats[0].shape == (24, 8) and feats[0].dtype == np.float32
    np.testing.assert_array_equal(feats[0], feats[1])
    # The model itself has no augmentation layer (it lived in a training wrapper only).
    assert "augmentation" not in [layer.name for layer in model.layers]
    assert np.isfinite(model.evaluate(x, y, verbose=0)[0])


def test_train_cnn_cache_loads_the_same_training_and_only_that(tmp_path):
    """A stored training comes back with its weights and history; another seed, data or setting trains anew."""
    x, y = _tiny_images(24)

    def run(seed=0, epochs=2, data=x):
        model = build_cnn(SHAPE, n_classes=2, feature_dim=8, seed=seed)
        history = train_cnn(
            model,
            data[:16],
            y[:16],
            data[16:],
            y[16:],
            epochs=epochs,
            batch_size=8,
            seed=seed,
            cache_dir=tmp_path,
        )
        return image_features(model, x), history.history

    first, history = run()
    assert len(list(tmp_path.glob("train-*.json"))) == 1
    again, history_again = run()  # loaded: no new entry, the same features and history
    assert len(list(tmp_path.glob("train-*.json"))) == 1
    np.testing.assert_array_equal(first, again)
    assert history_again == {k: [float(v) for v in values] for k, values in history.items()}
    changed = x.copy()
    changed[0, 0, 0, 0] += 0.01
    for other in ({"seed": 1}, {"epochs": 3}, {"data": changed}):
        run(**other)
    assert len(list(tmp_path.glob("train-*.json"))) == 4, "each change is a training of its own"
    assert not list(tmp_path.glob("*.tmp-*")), "no half-written file is left behind"


def test_train_cnn_without_augmentation_learns_an_easy_task():
    x, y = _tiny_images(64, seed=1)
    model = build_cnn(SHAPE, n_classes=2, feature_dim=8, seed=0)
    train_cnn(model, x[:48], y[:48], x[48:], y[48:], epochs=15, batch_size=8, augment=False, patience=15)
    acc = (model.predict(x[48:], verbose=0).argmax(axis=1) == y[48:]).mean()
    assert acc >= 0.75


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("mismatch", "16 images but 15 labels"),
        ("nan", "NaN"),
        ("shape", "the model expects"),
        ("labels", "labels must lie in 0..1"),
        ("float_labels", "integer class indices"),
    ],
)
def test_train_cnn_errors(change, message):
    x, y = _tiny_images(24)
    xt, yt = x[:16].copy(), y[:16].copy()
    if change == "mismatch":
        yt = yt[:15]
    elif change == "nan":
        xt[0, 0, 0, 0] = np.nan
    elif change == "shape":
        xt = np.zeros((16, 20, 20, 1), dtype=np.float32)
    elif change == "labels":
        yt[0] = 5
    elif change == "float_labels":
        yt = yt.astype(float)
    model = build_cnn(SHAPE, n_classes=2, feature_dim=8)
    with pytest.raises(ValueError, match=message):
        train_cnn(model, xt, yt, x[16:], y[16:], epochs=1)


def test_image_features_errors():
    model = build_cnn(SHAPE, n_classes=2, feature_dim=8)
    with pytest.raises(ValueError, match="expects"):
        image_features(model, np.zeros((2, 20, 20, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        image_features(model, np.full((2, *SHAPE), np.nan, dtype=np.float32))
    import keras

    plain = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no layer named 'features'"):
        feature_extractor(plain)


# -------------------------------------------------------------------------------------------------------- Word2Vec
CORPUS = [
    ["fever", "productive", "cough", "purulent", "sputum"],
    ["no_fever", "leg", "edema", "orthopnea"],
    ["fever", "cough", "chills"],
    ["leg", "edema", "weight", "gain", "orthopnea"],
    ["weight", "loss", "hemoptysis", "night", "sweats"],
    ["no_fever", "weight", "loss", "hemoptysis"],
] * 5


def test_word2vec_is_deterministic():
    kv1 = train_word2vec(CORPUS, vector_size=8, epochs=5, seed=1)
    kv2 = train_word2vec(CORPUS, vector_size=8, epochs=5, seed=1)
    assert kv1.index_to_key == kv2.index_to_key
    np.testing.assert_array_equal(kv1.vectors, kv2.vectors)
    assert kv1.vector_size == 8 and "fever" in kv1 and "no_fever" in kv1
    kv3 = train_word2vec(CORPUS, vector_size=8, epochs=5, seed=2)
    assert not np.array_equal(kv1.vectors, kv3.vectors)


@pytest.mark.parametrize(
    ("corpus", "kwargs", "message"),
    [
        ([], {}, "corpus is empty"),
        ([[], []], {}, "corpus is empty"),
        ([["a", "b"]], {"min_count": 2}, "min_count=2"),
        (["fever cough"], {}, "tokenise the notes first"),
        ("fever cough", {}, "list of token lists"),
        ([["fever", 3]], {}, "not a string token"),
    ],
)
def test_word2vec_errors(corpus, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_word2vec(corpus, **kwargs)


def test_fit_idf_ranks_rare_words_higher_and_is_sorted():
    idf = fit_idf(CORPUS[:6])
    assert list(idf) == sorted(idf)
    assert idf["chills"] > idf["fever"] > 1.0  # chills in 1 note of 6, fever in 2
    with pytest.raises(ValueError, match="empty"):
        fit_idf([[]])


def test_document_vectors_mean_tfidf_and_unknown_words():
    kv = train_word2vec(CORPUS, vector_size=8, epochs=5)
    docs = [["fever", "cough"], ["zzz_unknown"], [], ["fever", "fever", "chills", "zzz_unknown"]]
    mean = document_vectors(kv, docs)
    assert mean.shape == (4, 8) and mean.dtype == np.float32
    np.testing.assert_allclose(mean[0], (kv["fever"] + kv["cough"]) / 2, rtol=1e-5)
    np.testing.assert_array_equal(mean[1], 0.0)  # no known word -> zero vector
    np.testing.assert_array_equal(mean[2], 0.0)
    idf = fit_idf(CORPUS)
    tfidf = document_vectors(kv, docs, weighting="tfidf", idf=idf)
    w = np.array([idf["fever"], idf["fever"], idf["chills"]])
    expected = (w[0] * kv["fever"] + w[1] * kv["fever"] + w[2] * kv["chills"]) / w.sum()
    np.testing.assert_allclose(tfidf[3], expected, rtol=1e-5)
    np.testing.assert_array_equal(document_vectors(kv, docs), mean)  # deterministic
    with pytest.raises(ValueError, match="needs idf"):
        document_vectors(kv, docs, weighting="tfidf")
    with pytest.raises(ValueError, match="weighting"):
        document_vectors(kv, docs, weighting="max")


@pytest.mark.parametrize("binary", [False, True])
def test_save_and_load_vectors_round_trip(tmp_path, binary):
    kv = train_word2vec(CORPUS, vector_size=8, epochs=2)
    path = save_vectors(kv, tmp_path / "vectors" / "notes.w2v", binary=binary)
    loaded = load_vectors(path, binary=binary)
    assert loaded.index_to_key == kv.index_to_key
    np.testing.assert_allclose(loaded.vectors, kv.vectors, rtol=1e-5, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="missing.w2v"):
        load_vectors(tmp_path / "missing.w2v")


def test_pretrain_on_a_text_file(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "Denies fever. Productive cough.\n\nPatient has fever and cough.\n" * 10, encoding="utf-8"
    )
    kv = pretrain_word2vec(corpus, vector_size=8, min_count=2, epochs=2)
    assert {"no_fever", "fever", "cough"} <= set(kv.index_to_key)
    kv2 = pretrain_word2vec(corpus, vector_size=8, min_count=2, epochs=2)
    np.testing.assert_array_equal(kv.vectors, kv2.vectors)
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        pretrain_word2vec(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="one-pass iterator"):
        pretrain_word2vec(t for t in CORPUS)
    assert "fever" in pretrain_word2vec(CORPUS, vector_size=8, min_count=2, epochs=2)


def test_document_vectors_mean_max_min_pooling():
    kv = train_word2vec(CORPUS, vector_size=8, epochs=5)
    docs = [["fever", "cough"], ["zzz_unknown"], [], ["fever", "fever", "chills", "zzz_unknown"], ["cough"]]
    pooled = document_vectors(kv, docs, pooling="mean+max+min")
    assert pooled.shape == (5, 24) and pooled.dtype == np.float32
    np.testing.assert_array_equal(pooled[:, :8], document_vectors(kv, docs))  # the first block is the mean
    np.testing.assert_allclose(pooled[0, 8:16], np.maximum(kv["fever"], kv["cough"]), rtol=1e-6)
    np.testing.assert_allclose(pooled[0, 16:], np.minimum(kv["fever"], kv["cough"]), rtol=1e-6)
    # Unknown words are skipped in the extremes too; a note without a known word is all zeros.
    np.testing.assert_allclose(pooled[3, 8:16], np.maximum(kv["fever"], kv["chills"]), rtol=1e-6)
    np.testing.assert_allclose(pooled[3, 16:], np.minimum(kv["fever"], kv["chills"]), rtol=1e-6)
    np.testing.assert_array_equal(pooled[1], 0.0)
    np.testing.assert_array_equal(pooled[2], 0.0)
    # One word: its vector three times.
    np.testing.assert_allclose(pooled[4], np.tile(kv["cough"], 3), rtol=1e-6)
    assert (pooled[0, 8:16] >= pooled[0, :8]).all() and (pooled[0, 16:] <= pooled[0, :8]).all()


def test_document_vectors_pooling_with_tfidf_and_unknown_pooling():
    kv = train_word2vec(CORPUS, vector_size=8, epochs=5)
    docs = [["fever", "fever", "chills"], ["weight", "loss", "hemoptysis"]]
    idf = fit_idf(CORPUS)
    pooled = document_vectors(kv, docs, weighting="tfidf", idf=idf, pooling="mean+max+min")
    np.testing.assert_array_equal(pooled[:, :8], document_vectors(kv, docs, weighting="tfidf", idf=idf))
    # The weights move the average only: the extremes are those of the unweighted pooling.
    np.testing.assert_array_equal(pooled[:, 8:], document_vectors(kv, docs, pooling="mean+max+min")[:, 8:])
    with pytest.raises(ValueError, match=r"pooling must be \"mean\" or \"mean\+max\+min\", got 'max'"):
        document_vectors(kv, docs, pooling="max")
