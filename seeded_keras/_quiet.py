"""Keep TensorFlow's known start-up lines off the console, and nothing else.

Imported TensorFlow prints, from C++ and before any Python setting can
apply, lines such as ``WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR``, ``Could not find
cuda drivers``, ``cpu_feature_guard`` notes and, on every CPU-only machine,
an *error* line ``failed call to cuInit`` when it first looks for devices.
None of it is news to a user of seeded_keras.

When seeded_keras is imported before TensorFlow, unless
``SEEDED_KERAS_QUIET_TF=0`` is in the environment, this module wraps the
import of the ``tensorflow``
package -- whoever imports it, seeded_keras or the user (an import hook on
that one top-level name) -- so that:

* what TensorFlow writes to file descriptor 2 while it is imported (and
  while it first lists its devices, which is when ``cuInit`` fails) goes to
  a private temporary file;
* afterwards every line of it is written to the real stderr, **except** the
  known start-up lines matched by :data:`KNOWN_STARTUP_LINES`;
* if the import fails, *everything* it wrote is shown, unfiltered, before
  the exception propagates: a broken installation keeps its diagnostics.

TensorFlow's logging level is not changed, and nothing is filtered after the
import: errors TensorFlow logs later reach the console as usual.  (TensorFlow
2.21 prints these lines whatever ``TF_CPP_MIN_LOG_LEVEL`` says: they come
before its logging is initialised.)
"""

from __future__ import annotations

import importlib.abc
import os
import re
import sys
import tempfile
from contextlib import contextmanager

ENV_VAR = "SEEDED_KERAS_QUIET_TF"

#: The lines TensorFlow (2.16 to 2.21) prints on start-up that say nothing a
#: user of a CPU sweep can act on.  Only these are kept off the console.
# A native log line's prefix: absl's ("I0000 00:00:1.5  21593 port.cc:153] ")
# or TensorFlow 2.16's own ("2026-01-01 00:00:00.5: I tensorflow/.../port.cc:113] ")
_LOG = r"^(?:[IWEF]\d{4} [^\]]*\]|\d{4}-\d\d-\d\d [\d:.]+: [IWEF] [^\]]*\]) "

#: The lines TensorFlow (2.16 to 2.21) prints on start-up that say nothing a
#: user of a CPU sweep can act on.  Only these are kept off the console.
KNOWN_STARTUP_LINES = tuple(
    re.compile(p)
    for p in (
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called"
        r" are written to STDERR$",
        _LOG + r"oneDNN custom operations are on\.",
        _LOG + r"Could not find cuda drivers on your machine",
        _LOG + r"This TensorFlow binary is optimized to use available CPU"
        r" instructions",
        r"^To enable the following instructions: .*, in other operations, rebuild"
        r" TensorFlow with the appropriate compiler flags\.$",
        _LOG + r"failed call to cuInit",
        _LOG + r"Unable to register cu(DNN|FFT|BLAS) factory",
        _LOG + r"TF-TRT Warning: Could not find TensorRT$",
    )
)

__all__ = [
    "ENV_VAR",
    "KNOWN_STARTUP_LINES",
    "quiet_tensorflow_startup",
    "startup_output_filtered",
    "unknown_lines",
]


def unknown_lines(text: str) -> str:
    """``text`` without the lines matched by :data:`KNOWN_STARTUP_LINES`."""
    kept = [
        line
        for line in text.splitlines(keepends=True)
        if not any(p.search(line.rstrip("\r\n")) for p in KNOWN_STARTUP_LINES)
    ]
    return "".join(kept)


@contextmanager
def startup_output_filtered():
    """Hold file descriptor 2 in this block; then show all but known lines.

    If the block raises, everything written is shown, unfiltered.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable fd 2
        yield
        return
    failed = True
    with tempfile.TemporaryFile() as held:  # private to this user, unlinked
        os.dup2(held.fileno(), 2)
        try:
            yield
            failed = False
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError, AttributeError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode("utf-8", errors="replace")
            shown = text if failed else unknown_lines(text)
            if shown:
                os.write(2, shown.encode("utf-8", errors="replace"))


class _FilteredLoader(importlib.abc.Loader):
    """Wraps TensorFlow's own loader; runs the import inside the filter."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with startup_output_filtered():
            self._loader.exec_module(module)
            # cuInit fails when TensorFlow first lists its devices: do that
            # here, inside the filter (it starts no runtime: thread counts
            # and visible devices can still be set afterwards).
            config = getattr(module, "config", None)
            if config is not None and hasattr(config, "list_physical_devices"):
                config.list_physical_devices()


class _TensorFlowImportFilter(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the other finders, then filters its import."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once is enough; never find ourselves
        from importlib.util import find_spec

        spec = find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader)
        return spec


def quiet_tensorflow_startup() -> bool:
    """Filter TensorFlow's start-up output, unless it started or the user chose.

    Returns whether the filter was installed: not when TensorFlow is already
    imported or ``SEEDED_KERAS_QUIET_TF=0`` is set.  Called once, on import
    of :mod:`seeded_keras`.
    """
    if "tensorflow" in sys.modules:
        return False
    if os.environ.get(ENV_VAR, "1").strip() == "0":
        return False
    if not any(isinstance(f, _TensorFlowImportFilter) for f in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowImportFilter())
    return True
