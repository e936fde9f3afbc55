"""Keep TensorFlow's native start-up lines off the user's console.

Imported TensorFlow prints, from C++ and before any Python setting can
apply, lines such as ``WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR``, ``Could not find
cuda drivers``, ``cpu_feature_guard`` notes and, on every CPU-only machine,
an *error* line ``failed call to cuInit``.  None of it is news to a user of
seeded_keras.

When seeded_keras is imported before TensorFlow and the user has not set
``TF_CPP_MIN_LOG_LEVEL``, this module

* sets ``TF_CPP_MIN_LOG_LEVEL=3`` (TensorFlow's own C++ logging: errors
  and below, e.g. the cuInit line), and
* sends file descriptor 2 to ``/dev/null`` while the ``tensorflow`` package
  itself is being imported -- whoever imports it, seeded_keras or the user
  (an import hook on the top-level name only) -- which hides the absl lines
  printed before logging is initialised.  Python exceptions raised by the
  import still propagate as usual.

To get every line back, set ``TF_CPP_MIN_LOG_LEVEL`` yourself (``0`` shows
all) before importing seeded_keras, or import TensorFlow first: then nothing
here changes anything.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from contextlib import contextmanager

ENV_VAR = "TF_CPP_MIN_LOG_LEVEL"
QUIET_LEVEL = "3"
# Set beside ENV_VAR when the level is ours, not the user's, so that worker
# processes (which inherit both) quiet their own TensorFlow import too.
OURS = "SEEDED_KERAS_QUIETED_TF"

__all__ = ["ENV_VAR", "native_stderr_silenced", "quiet_tensorflow_startup"]


@contextmanager
def native_stderr_silenced():
    """Send file descriptor 2 to /dev/null in this block (native writes too)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2: nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietLoader(importlib.abc.Loader):
    """Wraps TensorFlow's own loader; the import runs with fd 2 silenced."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with native_stderr_silenced():
            self._loader.exec_module(module)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the other finders, then silences its import."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once is enough; never find ourselves
        from importlib.util import find_spec

        spec = find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_startup() -> bool:
    """Quiet TensorFlow's start-up, unless it started or the user chose a level.

    Returns whether anything was changed.  Must run before TensorFlow is
    imported; called once, on import of :mod:`seeded_keras`.
    """
    if "tensorflow" in sys.modules:
        return False
    if ENV_VAR in os.environ and os.environ.get(OURS) != "1":
        return False  # the user's choice
    os.environ[ENV_VAR] = QUIET_LEVEL
    os.environ[OURS] = "1"
    if not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
    return True
