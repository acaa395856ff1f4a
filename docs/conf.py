# Sphinx configuration of the course website (`make book`, or `python docs/build.py`).
#
# Tool: plain Sphinx + myst-nb + sphinx-book-theme, i.e. the engine of Jupyter Book 1 used directly.
# Jupyter Book 1 adds a CLI and a _config.yml on top of exactly these packages but pins older Sphinx
# releases and is in maintenance mode; Jupyter Book 2 (mystmd) needs Node.js and fetches its site
# theme from the web on the first build, so it cannot build offline; nbconvert's HTML export gives
# single pages without navigation or an API reference. myst-nb renders the committed outputs
# (execution off), MyST parses README.md as the landing page, autodoc documents ddim_ref.
#
# Offline: MathJax 2.7.9 comes from the pip package jupyter-server-mathjax (Sphinx's default is a CDN
# URL) and is copied into _static/mathjax; widget outputs become their saved figures (myst-nb would
# otherwise load require.js and the widget manager from CDNs). tests/e2e/test_site.py checks that a
# page asks for nothing outside the site.
#
# Sources: the repository root is the source folder (`-c docs .`), so README.md's and the notebooks'
# relative links work unchanged; include_patterns below pick the pages. The navigation is the README's
# syllabus table (docs/course_site.py), so a new notebook needs a row there and nothing here.

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # course_site, the extension below
sys.path.insert(0, str(HERE.parent / "tools"))  # static_widgets

project = "DDIM from the ground up"
author = "the DDIM course authors"
copyright = "the DDIM course authors; MNIST: LeCun, Cortes & Burges (CC BY-SA 3.0)"

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "course_site"]

root_doc = "README"
include_patterns = ["README.md", "notebooks/[0-9][0-9]_*.ipynb", "docs/*.md", "benchmarks/README.md"]
exclude_patterns = [".venv", ".git", "build", "student", "solutions", "runs", "data", "node_modules",
                    "docs/slides", "**/.ipynb_checkpoints", "tests", "ddim_ref"]

# Notebooks are committed executed: render their outputs, never run them.
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # no widget JavaScript from CDNs (course_site shows widgets as their saved figure)
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True  # "$$...$$" inside a paragraph, as Jupyter renders it
myst_heading_anchors = 3
suppress_warnings = ["myst.header",  # notebooks may go from "#" to "###": fine in Jupyter, fine here
                    "misc.highlighting_failure"]  # a ```python block with !shell lines: highlighted in relaxed mode

highlight_language = "ipython3"  # unlabelled code blocks may hold !shell and %magic lines
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
autodoc_typehints = "none"  # the signatures stay readable; types are in the docstrings

# MathJax 2.7.9 from jupyter-server-mathjax (course_site copies it into _static/mathjax; no CDN). That
# copy has the HTML-CSS output with the STIX-Web web fonts only (no TeX fonts): choose them, and let the
# blank test font be a local() one (its default url('about:blank') is a console error in Chromium).
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                "processEscapes": True, "processEnvironments": True,
                # myst-nb marks notebook pages tex2jax_ignore (raw "$" in outputs); its math nodes are class "math"
                "processClass": "tex2jax_process|mathjax_process|math|output_area"},
    "HTML-CSS": {"availableFonts": [], "webFont": "STIX-Web", "imageFont": None, "preferredFont": None,
                 "styles": {"@font-face": {"font-family": "MathJax_Blank", "src": "local('MathJax_Blank')"}}},
    "messageStyle": "none",
}

html_theme = "sphinx_book_theme"
html_title = project
html_context = {"default_mode": "light"}  # the theme logs a console error when no mode is set
html_theme_options = {"show_toc_level": 2, "home_page_in_toc": True, "use_download_button": False}
html_copy_source = False
html_show_sourcelink = False
html_static_path = ["_static"]
html_css_files = ["course.css"]
