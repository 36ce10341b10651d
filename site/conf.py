"""Sphinx configuration of the course website (`make site` -> _site/html/index.html).

Built from the committed notebooks with their stored outputs; nothing is executed.

Why Sphinx + MyST-NB + sphinx-book-theme (the engine of Jupyter Book 1) and not the others, measured on these
13 notebooks on a 2-core machine (see site/README.md for the numbers):
- Jupyter Book 2 (mystmd) downloads its site theme from api.mystmd.org / GitHub at build time: the build fails
  offline, and the theme is not published on npm or PyPI.
- mkdocs-jupyter renders no math without a MathJax script from a CDN, cannot collapse tagged cells (only remove
  them), and MkDocs 1.x / Material are in end-of-life mode.
- MyST-NB reads the stored outputs (nb_execution_mode = "off"), collapses cells by tag, and MathJax 3 comes from
  the sphinx-mathjax-offline wheel, so the built site loads nothing from outside the site.
Sphinx runs on the repository root (`sphinx-build -c site . _site/html`; MyST-NB writes its output images
beside the output folder, in _site/jupyter_execute, hence the html/ level), so the notebooks, the data card and
README's links stay where they are; include_patterns keeps it to the pages below.
"""

import json
import re

project = "Cross-modal deep learning for medicine"
author = "The course authors"
copyright = "the course authors, MIT licence"

root_doc = "site/index"
include_patterns = [
    "site/index.md",
    "site/glossary.md",
    "notebooks/[0-9][0-9]_*.ipynb",
    "data/README.md",
    "data/cohort_samples.png",
    "instructors.md",
]
exclude_patterns = ["_site", ".venv", "jupyter_execute", "**/.ipynb_checkpoints"]

extensions = [
    "myst_nb",  # also registers myst_parser for .md
    "sphinx-mathjax-offline",  # MathJax 3 copied into _site/html/_static/mathjax: no CDN
]

# The notebooks' stored outputs are the content: never execute.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # chapters start at H1 then use H2/H3 freely

html_theme = "sphinx_book_theme"
html_title = "Cross-modal deep learning for medicine"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "home_page_in_toc": True,
}
html_last_updated_fmt = None
# Light by default: the notebooks' figures were drawn on white (the reader can still switch). Without a value the
# theme logs "Got invalid theme mode" to the console on a first visit.
html_context = {"default_mode": "light"}
# The chapters' .ipynb files are copied into _sources/ for the download button (stored outputs included).
html_copy_source = True
html_sourcelink_suffix = ""
# The root index.html that sends a visitor to the course map (the root document is site/index).
html_extra_path = ["_root"]


def _collapse_solutions(app, docname, source):
    """Collapse the exercises' solutions as JupyterLab does: cells tagged `solution` get MyST-NB's
    `hide-input` tag (source folded under "Show code cell source", output shown). Done on the text Sphinx
    reads, so the committed notebooks stay as they are."""
    if not docname.startswith("notebooks/"):
        return
    nb = json.loads(source[0])
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "solution" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    source[0] = json.dumps(nb)


def plain_title(title: str) -> str:
    """A page title without TeX, for the browser tab (MathJax typesets the page, never the <title>):
    ``\\(F_x = \\mathrm{CNN}(X)\\)`` -> ``F_x = CNN(X)``."""
    title = re.sub(r"\\(?:mathrm|text|mathbf|operatorname)\{([^{}]*)\}", r"\1", title)
    return re.sub(r"\\[()\[\]]", "", title)


def _plain_page_title(app, pagename, templatename, context, doctree):
    if context.get("title"):
        context["title"] = plain_title(context["title"])


def setup(app):
    app.connect("source-read", _collapse_solutions)
    app.connect("html-page-context", _plain_page_title)
    # MathJax on every page, not only on pages with equations: the navigation shows chapter titles with math.
    app.set_html_assets_policy("always")
