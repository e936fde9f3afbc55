"""Sphinx configuration for the seeded_keras documentation."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

project = "seeded_keras"
author = "seeded_keras developers"
copyright = "2026, seeded_keras developers"
extensions = ["sphinx.ext.autodoc", "numpydoc"]
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
html_theme = "alabaster"
exclude_patterns = ["_build"]
nitpicky = False
