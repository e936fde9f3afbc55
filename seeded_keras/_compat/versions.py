"""The library versions every private hook was checked on.

The oldest of each range is what ``constraints-oldest.txt`` installs in CI;
the newest is what the newest-versions CI job resolved when a hook was last
changed.  ``pyproject.toml``'s floors are the oldest versions here, and
scikeras, whose private steps we override, is bounded above by the next
minor version (docs/architecture.rst: how to lift it).
"""

CHECKED = {
    "scikit-learn": "1.7.0 to 1.9.1",
    "scikeras": "0.13.0",
    "keras": "3.2.0 to 3.15.1",
    "tensorflow": "2.16.1 to 2.21.0",
    "joblib": "1.3.0 to 1.6.0",
}
