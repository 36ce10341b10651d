"""Chapter 10's explanations: they must find what we planted, satisfy their axioms, and fail where they should.

The image task: every 32x32 image has a bright bar (a distractor) somewhere; class 1 images also have a round blob
of the same brightness elsewhere. An explanation of class 1 must point at the blob, not at the bar: a map of the
brightness alone (the control) hits the blob in only about one image of six.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from crossmodal_lib import explain

SIZE = 32


def blob_images(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 0.05, (n, SIZE, SIZE, 1)).astype(np.float32)
    y = np.arange(n) % 2
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    blob = rng.integers(6, SIZE - 6, (n, 2))
    for i in range(n):
        while True:  # a bar that does not touch the blob
            bar = rng.integers(3, SIZE - 12, 2)
            if abs(bar[0] - blob[i, 0]) > 6 or not bar[1] - 6 < blob[i, 1] < bar[1] + 15:
                break
        x[i, bar[0], bar[1] : bar[1] + 9, 0] += 0.6
        if y[i]:
            x[i, ..., 0] += 0.6 * np.exp(-((yy - blob[i, 0]) ** 2 + (xx - blob[i, 1]) ** 2) / 8.0)
    return np.clip(x, 0, 1), y, blob


def blob_masks(centres, radius):
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    return np.stack([(yy - a) ** 2 + (xx - b) ** 2 <= radius**2 for a, b in centres])


@pytest.fixture(scope="module")
def task():
    x, y, _ = blob_images(400, 0)
    xv, yv, centres = blob_images(60, 1)
    positive = yv == 1
    return {"x": x, "y": y, "xv": xv, "yv": yv, "pos": xv[positive], "centres": centres[positive]}


@pytest.fixture(scope="module")
def cnn(task):
    """The course's CNN (build_cnn: conv blocks, Flatten, Dense), small, trained to find the blob."""
    from crossmodal_lib.features.image import build_cnn, train_cnn

    model = build_cnn((SIZE, SIZE, 1), n_classes=2, feature_dim=16, filters=(8, 16), seed=0)
    train_cnn(
        model, task["x"], task["y"], task["xv"], task["yv"], epochs=8, augment=False, learning_rate=3e-3
    )
    assert roc_auc_score(task["yv"], model.predict(task["xv"], verbose=0)[:, 1]) > 0.95
    return model


def gap_cnn(seed=0):
    """A CNN that ends in global average pooling, the architecture Grad-CAM was designed for."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="last_conv")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))


@pytest.fixture(scope="module")
def joint(task, cnn):
    """JointFusion: the CNN as image branch, and a 'text' modality of noise."""
    from crossmodal_lib.fusion import JointFusion

    rng = np.random.default_rng(2)
    text = rng.normal(size=(len(task["x"]), 4)).astype(np.float32)
    model = JointFusion(n_classes=2, epochs=3, hidden=16, feature_dim=8, image_model=cnn, augment=False)
    return model.fit({"image": task["x"], "text": text}, task["y"])


# ----------------------------------------------------------------------------------------------------------------
# Grad-CAM, HiResCAM, integrated gradients
# ----------------------------------------------------------------------------------------------------------------
def test_grad_cam_points_at_the_blob_and_an_untrained_model_does_not(task):
    import keras

    model = gap_cnn()
    untrained = keras.models.clone_model(model)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(task["x"], task["y"], epochs=10, batch_size=16, verbose=0)
    assert roc_auc_score(task["yv"], model.predict(task["xv"], verbose=0)[:, 1]) > 0.95
    masks = blob_masks(task["centres"], 3)
    maps = explain.grad_cam(model, task["pos"], 1)
    assert maps.shape == (len(masks), SIZE, SIZE) and maps.dtype == np.float32
    assert maps.min() >= 0 and np.isclose(maps.max(axis=(1, 2)), 1).all()
    assert explain.pointing_game(maps, masks)["hit_rate"] >= 0.8
    assert explain.pointing_game(explain.grad_cam(untrained, task["pos"], 1), masks)["hit_rate"] <= 0.3
    assert explain.pointing_game(task["pos"][..., 0], masks)["hit_rate"] <= 0.3  # brightness alone


def test_grad_cam_and_hirescam_agree_where_the_cnn_ends_in_global_pooling():
    x, _, _ = blob_images(8, 3)
    model = gap_cnn(seed=1)
    for c in (0, 1):
        a = explain.grad_cam(model, x, c)
        b = explain.grad_cam(model, x, c, variant="hirescam")
        assert np.allclose(a, b, atol=1e-5)


def test_hirescam_and_integrated_gradients_find_the_blob_in_the_course_cnn(task, cnn):
    """build_cnn flattens its maps into a Dense layer: HiResCAM (per-position gradients) is the faithful CAM."""
    maps = explain.grad_cam(cnn, task["pos"], 1, variant="hirescam")  # last conv: 4-pixel cells
    assert explain.pointing_game(maps, blob_masks(task["centres"], 5))["hit_rate"] >= 0.5  # random: 0.08
    attributions = explain.integrated_gradients(cnn, task["pos"], 1)
    assert attributions.shape == task["pos"].shape
    ig = explain.attribution_map(attributions, sign="positive")
    assert explain.pointing_game(ig, blob_masks(task["centres"], 3))["hit_rate"] >= 0.8


def test_grad_cam_reaches_the_image_branch_inside_joint_fusion(task, joint):
    assert explain.conv_layers(joint) == ["conv1", "conv2"]
    rng = np.random.default_rng(5)
    inputs = {"image": task["pos"], "text": rng.normal(size=(len(task["pos"]), 4)).astype(np.float32)}
    maps = explain.grad_cam(joint, inputs, 1, variant="hirescam", layer="conv1")  # inside image_branch
    assert maps.shape == (len(task["pos"]), SIZE, SIZE)
    assert explain.pointing_game(maps, blob_masks(task["centres"], 5))["hit_rate"] >= 0.7
    ig = explain.attribution_map(explain.integrated_gradients(joint, inputs, 1), sign="positive")
    assert explain.pointing_game(ig, blob_masks(task["centres"], 3))["hit_rate"] >= 0.8
    with pytest.raises(ValueError, match=r"missing modality \['text'\]"):
        explain.grad_cam(joint, {"image": task["pos"]})
    with pytest.raises(ValueError, match=r"unknown modality \['ecg'\]"):
        explain.grad_cam(joint, {**inputs, "ecg": inputs["text"]})


@pytest.mark.parametrize("baseline", [None, 0.3])
def test_integrated_gradients_are_complete(task, cnn, joint, baseline):
    """Completeness: the attributions of an image sum to p(x) - p(baseline), for the CNN and the fused model."""
    x = task["xv"][:12]
    text = np.random.default_rng(6).normal(size=(12, 4)).astype(np.float32)
    x0 = np.full_like(x, 0.0 if baseline is None else baseline)
    for model, inputs, at_baseline in (
        (cnn, x, x0),
        (joint, {"image": x, "text": text}, {"image": x0, "text": text}),
    ):
        attributions = explain.integrated_gradients(model, inputs, 1, baseline=baseline, steps=64)
        predict = model.predict_proba if hasattr(model, "predict_proba") else model.predict
        delta = predict(inputs)[:, 1] - predict(at_baseline)[:, 1]
        assert np.abs(delta).max() > 0.05  # something to explain
        assert np.allclose(attributions.sum(axis=(1, 2, 3)), delta, atol=0.01 + 0.02 * np.abs(delta).max())


def test_bad_inputs_are_named(task, cnn):
    import keras

    with pytest.raises(ValueError, match=r"add a channel axis"):
        explain.grad_cam(cnn, task["pos"][..., 0])
    with pytest.raises(
        ValueError, match=r"image has shape \(3, 16, 16, 1\); the model expects \(n, 32, 32, 1\)"
    ):
        explain.integrated_gradients(cnn, np.zeros((3, 16, 16, 1)))
    with pytest.raises(ValueError, match="has no layer 'conv9'; its conv layers are"):
        explain.grad_cam(cnn, task["pos"], layer="conv9")
    with pytest.raises(ValueError, match="class_index must be in 0..1"):
        explain.grad_cam(cnn, task["pos"], 2)
    with pytest.raises(ValueError, match="variant must be"):
        explain.grad_cam(cnn, task["pos"], variant="gradcam++")
    with pytest.raises(ValueError, match="baseline has shape"):
        explain.integrated_gradients(cnn, task["pos"], baseline=np.zeros((5, 5)))
    inputs = keras.Input((4,))
    dense = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    with pytest.raises(ValueError, match="has no Conv2D layer; Grad-CAM needs a convolutional image model"):
        explain.grad_cam(dense, np.zeros((2, 4)))
    from crossmodal_lib.fusion import JointFusion

    with pytest.raises(ValueError, match="JointFusion is not fitted yet"):
        explain.grad_cam(JointFusion(), {"image": task["pos"]})


# ----------------------------------------------------------------------------------------------------------------
# Pointing game and randomisation
# ----------------------------------------------------------------------------------------------------------------
def test_pointing_game_on_hand_made_maps():
    masks = np.zeros((4, 10, 10), dtype=bool)
    masks[:, 2:4, 2:4] = True  # 4 % of the image
    maps = np.zeros((4, 10, 10))
    maps[0, 3, 3] = 1  # inside
    maps[1, 8, 8] = 1  # outside
    maps[2, 2, 2], maps[2, 9, 9] = 0.5, 0.9  # the peak is outside
    # maps[3] is flat: no peak, a miss
    result = explain.pointing_game(maps, masks)
    assert result["hits"].tolist() == [True, False, False, False]
    assert (
        result["hit_rate"] == 0.25 and result["random_baseline"] == pytest.approx(0.04) and result["n"] == 4
    )
    with pytest.raises(ValueError, match="heatmaps have shape"):
        explain.pointing_game(maps[:, :5], masks)
    with pytest.raises(ValueError, match="masks are empty"):
        explain.pointing_game(maps, np.zeros_like(masks))
    with pytest.raises(ValueError, match="must be boolean"):
        explain.pointing_game(maps, masks.astype(int))


def test_map_similarity_is_spearman_per_map():
    rng = np.random.default_rng(0)
    a = rng.random((3, 6, 6))
    b = np.stack([a[0] ** 3, -a[1], np.zeros((6, 6))])  # same ranking, reversed, flat
    assert np.allclose(explain.map_similarity(a, b), [1.0, -1.0, 0.0])


def test_randomisation_check_passes_for_hirescam_and_fails_for_a_model_blind_method(task, cnn):
    before = cnn.predict(task["pos"], verbose=0)
    table = explain.randomization_check(cnn, task["pos"][:20], "grad_cam", 1, variant="hirescam")
    assert list(table.columns) == ["randomised", "spearman", "differs"]
    assert table["randomised"].iloc[0] == "probabilities" and len(table) == 4  # 4 layers with weights
    assert table["randomised"].iloc[-1].endswith("conv1")
    # re-initialising one 2-class output layer may keep or flip the map; the whole cascade must not keep it
    assert table["differs"].iloc[1:].all()
    assert explain.randomization_check(cnn, task["pos"][:20], "grad_cam", mode="all")["differs"].all()
    np.testing.assert_array_equal(cnn.predict(task["pos"], verbose=0), before)  # the model is not touched

    def brightness(model, images, class_index, image=None):  # ignores the model: an edge detector in disguise
        return images[..., 0]

    blind = explain.randomization_check(cnn, task["pos"][:20], brightness, mode="all")
    assert blind["spearman"].iloc[0] == pytest.approx(1.0) and not blind["differs"].any()


def test_randomisation_check_takes_score_vectors_of_different_lengths(task, cnn):
    """A method may return one score vector per row, of any length (the word scores of notes)."""
    x = task["pos"][:8]

    def blind(model, images, class_index, image=None):  # ignores the model
        return [images[i, 0, : 20 + i, 0] for i in range(len(images))]

    table = explain.randomization_check(cnn, x, blind, mode="all")
    assert table["spearman"].iloc[0] == pytest.approx(1.0) and not table["differs"].any()

    def ragged_hirescam(model, images, class_index, image=None):  # the model's maps, cut to different lengths
        maps = explain.grad_cam(model, images, class_index, image=image, variant="hirescam")
        return [m.ravel()[: SIZE * SIZE - 3 * i] for i, m in enumerate(maps)]

    whole = explain.randomization_check(cnn, x, "grad_cam", 1, mode="all", variant="hirescam")
    cut = explain.randomization_check(cnn, x, ragged_hirescam, 1, mode="all")
    assert cut["differs"].all() and abs(cut["spearman"].iloc[0] - whole["spearman"].iloc[0]) < 0.05


# ----------------------------------------------------------------------------------------------------------------
# Words
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_words():
    """Word vectors where "fever" alone points along axis 0, and a model that reads only that axis."""
    from gensim.models import KeyedVectors

    words = ["fever", "cough", "patient", "tired", "pain"]
    kv = KeyedVectors(vector_size=5)
    kv.add_vectors(words, np.eye(5, dtype=np.float32) + 0.05)

    def predict_proba(blocks):
        assert set(blocks) == {"text", "image"}  # the model takes both modalities
        z = 12 * blocks["text"][:, 0] - 2 + blocks["image"][:, 0]
        p = 1 / (1 + np.exp(-z))
        return np.stack([1 - p, p], axis=1)

    return kv, predict_proba


@pytest.mark.parametrize("weighting", ["mean", "tfidf"])
def test_word_occlusion_finds_the_word_that_decides(toy_words, weighting):
    kv, predict_proba = toy_words
    idf = {"fever": 2.0, "cough": 1.5, "patient": 1.0, "tired": 1.2, "pain": 1.3}
    note = ["patient", "cough", "fever", "xyzzy", "tired", "pain"]
    scores = explain.word_occlusion(
        predict_proba, note, kv, idf, weighting=weighting, blocks={"image": [0.0]}
    )
    assert [t for t, _ in scores] == note
    assert max(scores, key=lambda s: s[1])[0] == "fever" and scores[2][1] > 0.2
    assert dict(scores)["xyzzy"] == 0.0  # no word vector: F_y never saw it
    assert all(abs(s) < scores[2][1] / 2 for t, s in scores if t != "fever")
    # many notes in one call give the same scores as one call per note
    notes = [note, ["fever", "pain"], ["cough", "tired"]]
    images = np.zeros((3, 1))
    many = explain.word_occlusion(
        predict_proba, notes, kv, idf, weighting=weighting, blocks={"image": images}
    )
    assert np.allclose([s for _, s in many[0]], [s for _, s in scores])
    assert len(many) == 3 and [t for t, _ in many[2]] == ["cough", "tired"]


def test_word_occlusion_names_bad_input(toy_words):
    kv, predict_proba = toy_words
    with pytest.raises(ValueError, match="list of tokens"):
        explain.word_occlusion(predict_proba, "fever and cough", kv)
    with pytest.raises(ValueError, match="non-empty list"):
        explain.word_occlusion(predict_proba, [], kv)
    with pytest.raises(ValueError, match="image has 2 rows but there are 1 notes"):
        explain.word_occlusion(predict_proba, ["fever"], kv, blocks={"image": np.zeros((2, 1))})
    with pytest.raises(ValueError, match="'text' is recomputed"):
        explain.word_occlusion(predict_proba, ["fever"], kv, blocks={"text": [0.0]})


def test_highlight_words_renders_escaped_coloured_html():
    out = explain.highlight_words([("fever", 0.4), ("<b>", -0.2), ("pain", 0.0)])
    assert out._repr_html_() == str(out)
    assert "&lt;b&gt;" in out and "<b>" not in out
    assert "rgba(220, 50, 32, 1.00)" in out and "rgba(0, 90, 181, 0.50)" in out and 'title="+0.4000"' in out


def test_symptom_words_come_from_the_generators_phrases():
    infection = explain.symptom_words("infection")
    assert {"fever", "purulent", "chills", "phlegm"} <= infection
    assert "cough" not in infection  # also a nonspecific complaint
    assert "sputum" not in infection  # also in "blood-streaked sputum" (constitutional)
    assert {"orthopnea", "pedal"} <= explain.symptom_words("congestion")
    assert "hemoptysis" in explain.symptom_words("constitutional")
    assert not infection & explain.symptom_words("congestion")
    with pytest.raises(ValueError, match="unknown syndrome"):
        explain.symptom_words("fever")


def test_word_hit_rate_and_its_random_baseline():
    notes = [
        [("a", 0.1), ("fever", 0.9), ("b", 0.0), ("c", 0.2)],  # top-1 is a symptom word
        [("a", 0.5), ("fever", 0.1), ("b", 0.0), ("c", 0.2)],  # it is not; top-2 neither
        [("a", 0.5), ("b", 0.1)],  # no symptom word: skipped
    ]
    one = explain.word_hit_rate(notes, {"fever"}, k=1)
    assert one == {"hit_rate": 0.5, "random_baseline": 0.25, "n": 2, "skipped": 1}
    two = explain.word_hit_rate(notes, {"fever"}, k=2)
    assert two["hit_rate"] == 0.5 and two["random_baseline"] == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2)


# ----------------------------------------------------------------------------------------------------------------
# Modalities
# ----------------------------------------------------------------------------------------------------------------
def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_shapley_values_are_efficient_symmetric_and_zero_for_a_null_modality():
    rng = np.random.default_rng(0)
    n = 30
    blocks = {name: rng.normal(size=(n, 3)) for name in ("image", "text", "ecg", "tabular")}
    blocks["text"] = blocks["image"].copy()  # the same features ...
    reference = {name: rng.normal(size=(50, 3)) for name in blocks}
    reference["text"] = reference["image"].copy()  # ... and the same training mean

    def predict_proba(b):  # symmetric in image and text, with interactions; ignores "tabular"
        pair = b["image"][:, 0] * b["text"][:, 1] + b["text"][:, 0] * b["image"][:, 1]
        z = b["image"].sum(1) + b["text"].sum(1) + pair * b["ecg"][:, 2]
        p = _sigmoid(z)
        return np.stack([1 - p, p], axis=1)

    phi = explain.modality_shapley(predict_proba, blocks, reference, class_index=1)
    assert list(phi.columns) == ["image", "text", "ecg", "tabular", "base", "full"]
    names = list(blocks)
    assert np.allclose(phi[names].sum(axis=1), phi["full"] - phi["base"], atol=1e-12)  # efficiency
    assert np.allclose(phi["image"], phi["text"])  # symmetry
    assert np.allclose(phi["tabular"], 0)  # null player
    assert np.allclose(phi["full"], predict_proba(blocks)[:, 1])
    # predicted class by default: each row explains its own top class
    default = explain.modality_shapley(predict_proba, blocks, reference)
    assert np.allclose(default["full"], predict_proba(blocks).max(axis=1))


def test_shapley_values_of_an_additive_model_are_its_terms():
    """f = g(image) + h(text): the Shapley value of a modality is its term minus the term at the training mean."""
    rng = np.random.default_rng(1)
    blocks = {"image": rng.random((10, 2)), "text": rng.random((10, 2))}
    reference = {"image": rng.random((40, 2)), "text": rng.random((40, 2))}

    def predict_proba(b):
        p = 0.3 * b["image"][:, 0] ** 2 + 0.2 * np.sin(b["text"][:, 1])
        return np.stack([1 - p, p], axis=1)

    phi = explain.modality_shapley(predict_proba, blocks, reference, class_index=1)
    mean_image = reference["image"].astype(np.float32).mean(0)
    mean_text = reference["text"].astype(np.float32).mean(0)
    assert np.allclose(phi["image"], 0.3 * (blocks["image"][:, 0] ** 2 - mean_image[0] ** 2), atol=1e-6)
    assert np.allclose(phi["text"], 0.2 * (np.sin(blocks["text"][:, 1]) - np.sin(mean_text[1])), atol=1e-6)


def test_shapley_and_gates_with_the_course_fusion_models():
    from crossmodal_lib.fusion import EarlyFusion, GatedFusion

    rng = np.random.default_rng(3)
    y = np.arange(80) % 2
    blocks = {"image": rng.normal(size=(80, 3)) + y[:, None], "text": rng.normal(size=(80, 2))}
    early = EarlyFusion(n_classes=2, epochs=3, hidden=8).fit(blocks, y)
    phi = explain.modality_shapley(early.predict_proba, blocks, blocks)
    assert np.allclose(phi[["image", "text"]].sum(axis=1), phi["full"] - phi["base"])
    assert phi["image"].abs().mean() > phi["text"].abs().mean()  # only the image carries the label
    with pytest.raises(ValueError, match=r"unknown modality \['ecg'\]"):
        explain.modality_shapley(
            early.predict_proba, {**blocks, "ecg": blocks["text"]}, {**blocks, "ecg": blocks["text"]}
        )
    with pytest.raises(ValueError, match=r"reference has no training features for \['text'\]"):
        explain.modality_shapley(early.predict_proba, blocks, {"image": blocks["image"]})
    with pytest.raises(ValueError, match="reference\\['text'\\] has rows of shape"):
        explain.modality_shapley(early.predict_proba, blocks, {**blocks, "text": blocks["image"]})
    gated = GatedFusion(n_classes=2, epochs=2, hidden=8).fit(blocks, y)
    gates = explain.modality_gates(gated, blocks)
    assert list(gates.columns) == ["image", "text"] and np.allclose(gates.sum(axis=1), 1, atol=1e-5)
    with pytest.raises(TypeError, match="has no gates"):
        explain.modality_gates(early, blocks)


# ----------------------------------------------------------------------------------------------------------------
# The shortcut variant and the picture
# ----------------------------------------------------------------------------------------------------------------
def test_marker_shortcut_data_puts_the_marker_on_the_chosen_label():
    from crossmodal_lib.data import CLASSES, region_masks

    data = explain.marker_shortcut_data(
        n_patients=40, label="pneumonia", rate=1.0, other_rate=0.0, image_size=32
    )
    n = len(data["y"])
    assert data["images"].shape == (n, 32, 32, 1) and data["images"].dtype == np.float32
    assert (data["marker"] == (data["y"] == CLASSES.index("pneumonia"))).all() and data["marker"].any()
    masks = region_masks(data["regions"], data["ids"][data["marker"]], 32, "marker")
    assert masks.any(axis=(1, 2)).all()
    marked, unmarked = data["images"][data["marker"]][..., 0], data["images"][~data["marker"]][..., 0]
    # the bright block is where the record says: brighter than the same pixels of the unmarked images
    assert all(image[m].mean() > unmarked[:, m].mean() + 0.2 for image, m in zip(marked, masks, strict=True))
    assert set(data["split"]) <= {"train", "val", "test"} and isinstance(data["regions"], pd.DataFrame)
    with pytest.raises(ValueError, match="unknown label"):
        explain.marker_shortcut_data(n_patients=2, label="flu")


def test_plot_heatmap_draws_the_map_its_peak_and_the_region(task):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heat = np.zeros((SIZE, SIZE))
    heat[5, 7] = 1
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[4:8, 6:9] = True
    ax = explain.plot_heatmap(task["pos"][0], heat, mask, title="blob")
    assert ax.get_title() == "blob" and len(ax.images) == 2
    (x, y) = ax.lines[0].get_xydata()[0]
    assert (x, y) == (7, 5)
    with pytest.raises(ValueError, match="the heat map has shape"):
        explain.plot_heatmap(task["pos"][0], heat[:5])
    plt.close("all")
