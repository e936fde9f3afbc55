"""The list of private hooks, and how a broken one makes itself heard.

Every function in :mod:`seeded_keras._compat` that reaches into another
library's private internals is registered here with :func:`hook`: which
library, the versions it was checked on, and what happens when a new version
moves the internal away -- an error (:class:`CompatError`) when results would
otherwise change silently, or a documented fallback announced by a warning
when only speed or memory would suffer.  ``tests/test_compat.py`` has one
test per registered hook, proving it still does its job.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

__all__ = ["HOOKS", "CompatError", "CompatWarning", "Hook", "calls", "hook"]


class CompatError(RuntimeError):
    """A private hook of seeded_keras no longer fits the installed library."""


class CompatWarning(UserWarning):
    """A private hook fell back to a slower or more memory-hungry path."""


@dataclass(frozen=True)
class Hook:
    """One private hook: where it reaches and what happens if that moves."""

    name: str
    library: str
    reaches: str
    checked: str
    on_failure: str  # "error" or "fallback: <consequence>"

    def error(self, detail: str) -> CompatError:
        """The error to raise when the hook no longer fits."""
        return CompatError(
            f"seeded_keras cannot use {self.reaches} ({detail}); it was checked "
            f"on {self.library} {self.checked}. Install a {self.library} in that "
            "range, or report this at the seeded_keras issue tracker."
        )

    def fall_back(self, detail: str) -> None:
        """Warn once that the hook runs its documented fallback."""
        if self.name in _warned:
            return
        _warned.add(self.name)
        consequence = self.on_failure.partition(": ")[2]
        warnings.warn(
            f"seeded_keras cannot use {self.reaches} ({detail}; checked on "
            f"{self.library} {self.checked}); falling back: {consequence}. "
            "Results are unchanged.",
            CompatWarning,
            stacklevel=3,
        )


HOOKS: dict[str, Hook] = {}
_warned: set[str] = set()


def hook(library: str, reaches: str, checked: str, on_failure: str = "error"):
    """Register the decorated function (or class) as a private hook."""

    def register(obj):
        obj.hook = HOOKS[obj.__name__] = Hook(
            obj.__name__, library, reaches, checked, on_failure
        )
        return obj

    return register


def calls(func, name: str) -> bool:
    """Whether ``func`` (unwrapped) or a function nested in it names ``name``."""
    import inspect

    code = getattr(inspect.unwrap(func), "__code__", None)
    codes = [code] if code is not None else []
    while codes:
        code = codes.pop()
        if name in code.co_names:
            return True
        codes.extend(c for c in code.co_consts if hasattr(c, "co_names"))
    return False
