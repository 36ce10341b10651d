"""The course's figure convention (crossmodal_lib.course): films drawn large and crisp, findings outlined and zoomed.

Tiny arrays and matplotlib's Agg backend: no display, no cohort needed.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from crossmodal_lib import course

# What a learner needs to see a 3-pixel nodule: at least 2.5 screen pixels per film pixel (160 px for 64 px).
MIN_PX_PER_FILM_PIXEL = 2.5


@pytest.fixture(autouse=True)
def _course_rc():
    """The rcParams the notebooks run with (course.setup), restored afterwards."""
    with matplotlib.rc_context():
        course.setup(tensorflow=False)
        yield
    plt.close("all")


def films(n=3, size=64):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, size, size, 1), dtype=np.uint8)


def test_show_films_draws_each_film_large_with_crisp_pixels():
    fig, axes = course.show_films(films(6), titles=[f"film {k}" for k in range(6)])
    assert axes.shape == (2, course.FILMS_PER_ROW)  # 4 per row at most: 6 films make two rows
    fig.canvas.draw()
    shown = [ax for ax in axes.flat if ax.images]
    assert len(shown) == 6
    for ax in shown:
        width = ax.get_window_extent().width  # pixels at the figure's dpi, as stored in the notebook
        assert width >= MIN_PX_PER_FILM_PIXEL * 64, f"a 64-px film drawn {width:.0f} px wide"
        assert ax.images[0].get_interpolation() == "nearest"
    assert fig.get_dpi() == course.FIGURE_DPI
    assert fig.get_figwidth() <= course.MAX_FIGURE_INCHES


def test_titles_and_a_suptitle_do_not_shrink_the_films():
    fig, axes = course.show_films(
        films(2), titles=["normal\nno finding\nthird line", "lung mass"], suptitle="two films"
    )
    fig.canvas.draw()
    assert all(ax.get_window_extent().width >= MIN_PX_PER_FILM_PIXEL * 64 for ax in axes.flat)


def test_regions_are_outlined_and_a_small_one_is_zoomed():
    regions = pd.DataFrame(
        {
            "id": ["v1", "v1"],
            "finding": ["nodule", "cardiomegaly"],
            "y0": [0.3, 0.5],
            "x0": [0.7, 0.3],
            "y1": [0.35, 0.77],
            "x1": [0.75, 0.8],
        }
    )
    fig, axes = course.show_films(films(2), regions=[regions, None], zoom=True)
    with_regions, without = axes[0]
    assert len(with_regions.patches) == 3  # two outlines and the zoomed window
    assert len(with_regions.child_axes) == 1  # the inset
    inset = with_regions.child_axes[0]
    x0, x1 = inset.get_xlim()
    assert x1 - x0 == pytest.approx(course.ZOOM_WINDOW * 64)  # 16 film pixels, magnified
    assert not without.patches and not without.child_axes
    # The inset sits in a corner away from both regions (the nodule is top right, the heart low in the middle).
    bx0, by0, bw, bh = inset.get_position().bounds
    assert bx0 < with_regions.get_position().x0 + with_regions.get_position().width / 2


def test_large_regions_need_no_zoom():
    _, axes = course.show_films(films(1), regions=[np.array([[0.5, 0.3, 0.77, 0.8]])], zoom=True)
    assert not axes[0, 0].child_axes


def test_film_grid_gives_panels_for_own_drawing():
    fig, axes = course.film_grid(2, 4, suptitle="heat maps")
    assert axes.shape == (2, 4)
    assert fig.get_figwidth() == pytest.approx(4 * course.FILM_INCHES)
    _, strip = course.film_grid(4, 8, panel=course.FILM_INCHES / 2)  # 32-px frames: half the panel, 8 fit
    assert strip.shape == (4, 8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"regions": [[[0.5, 0.5, 1.2, 0.6]], None, None]}, "film 0: region"),  # y1 beyond the image
        ({"regions": [None, None, [[0.5, 0.6, 0.6, 0.5]]]}, "film 2: region"),  # x0 > x1
        ({"regions": [None]}, "1 regions for 3 films"),
        ({"titles": ["a", "b"]}, "2 titles for 3 films"),
        ({"zoom": [True]}, "1 zoom flags for 3 films"),
        ({"ncols": 0}, "ncols must be"),
    ],
)
def test_bad_input_says_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        course.show_films(films(3), **kwargs)


def test_a_row_wider_than_a_notebook_column_is_refused():
    with pytest.raises(ValueError, match="over the course's 10.0 in: use at most 4 per row"):
        course.show_films(films(6), ncols=5)


def test_a_colour_image_is_refused():
    with pytest.raises(ValueError, match=r"film 1 has shape \(8, 8, 3\)"):
        course.show_films([np.zeros((8, 8)), np.zeros((8, 8, 3))])


def test_draw_film_fills_a_panel_of_a_layout_of_ones_own():
    fig, axd = plt.subplot_mosaic([["film", "map"]], figsize=(2 * course.FILM_INCHES, course.FILM_INCHES))
    course.draw_film(axd["film"], films(1)[0], title="film", regions=[[0.4, 0.4, 0.45, 0.45]], zoom=True)
    course.draw_film(axd["map"], np.ones((16, 16)), cmap="viridis")
    assert axd["film"].get_title() == "film" and axd["film"].child_axes
    assert axd["map"].images[0].get_cmap().name == "viridis"
    with pytest.raises(ValueError, match=r"the film: region .* is not a box inside the image"):
        course.draw_film(axd["map"], np.ones((16, 16)), regions=[[-0.1, 0, 0.5, 0.5]])


def test_setup_draws_every_image_with_crisp_pixels():
    assert matplotlib.rcParams["image.interpolation"] == "nearest"
    assert matplotlib.rcParams["figure.dpi"] == course.FIGURE_DPI
