"""Where seeded_keras touches a private name of a dependency, by AST.

Outside ``seeded_keras/_compat/`` no module may

* import a private module of a dependency (``keras.src``, ``scikeras``,
  ``tensorflow.python``, ``sklearn.*._x``, ``joblib.externals``, ...);
* read or write a private attribute (``obj._name``, or
  ``getattr(obj, "_name")``) that seeded_keras itself does not define --
  a method or class attribute of one of its classes (``_compat``'s named
  accessors included), or an attribute it sets outside ``_compat``;
* read a private attribute of a name imported from a dependency
  (``GridSearchCV._parameter_constraints``), whatever the name;
* define, in one of its classes (mixins included), a private name that a
  dependency class later in the MRO defines: an override of their internals.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

DEPENDENCIES = ("sklearn", "scikeras", "keras", "tensorflow", "joblib", "loky")
PRIVATE_MODULE = re.compile(
    r"^(keras\.src|scikeras|tensorflow\.python|joblib\.externals|loky"
    r"|(sklearn|keras|tensorflow|joblib)(\.\w+)*\._)"
)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _from_dependency(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] in DEPENDENCIES


def _imports(tree):
    """(line, module) of every import, and the names bound from dependencies."""
    modules, bound = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules.append((node.lineno, alias.name))
                if _from_dependency(alias.name):
                    bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.append((node.lineno, node.module))
            if _from_dependency(node.module):
                bound.update(a.asname or a.name for a in node.names)
                modules.extend(
                    (node.lineno, f"{node.module}.{a.name}") for a in node.names
                )
    return modules, bound


def _attribute_uses(tree):
    """(line, object name or None, attribute) of every private attribute use."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            yield node.lineno, owner, node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            owner = node.args[0].id if isinstance(node.args[0], ast.Name) else None
            yield node.lineno, owner, node.args[1].value


def _body_names(classdef: ast.ClassDef) -> set:
    """The names a class's source body defines (methods, class attributes)."""
    names = set()
    for item in classdef.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(item.name)
        elif isinstance(item, ast.Assign):
            names.update(t.id for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.add(item.target.id)
    return names


def _our_names(trees, outside) -> set:
    """Private names seeded_keras defines (anywhere) or sets (outside _compat)."""
    ours = set()
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                ours |= _body_names(node)
            elif path in outside and isinstance(
                node, (ast.Assign, ast.AnnAssign, ast.AugAssign)
            ):
                targets = (
                    node.targets if isinstance(node, ast.Assign) else [node.target]
                )
                ours.update(
                    t.attr
                    for t in targets
                    if isinstance(t, ast.Attribute) and _private(t.attr)
                )
    return ours


def _class_bodies(trees, package_dir) -> dict:
    """(module, class name) -> the names its source body defines."""
    bodies = {}
    for path, tree in trees.items():
        module = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bodies[(module, node.name)] = _body_names(node)
    return bodies


def _overrides(module_names, bodies) -> list[str]:
    """Private names our classes' source defines that a dependency class
    defines too (what ``_compat`` puts in a class at run time is its own)."""
    found = []
    for module_name in module_names:
        module = importlib.import_module(module_name)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module_name:
                continue
            for i, klass in enumerate(cls.__mro__):
                if klass.__module__ not in module_names:
                    continue
                for name in bodies.get((klass.__module__, klass.__qualname__), ()):
                    if not _private(name):
                        continue
                    for base in cls.__mro__[i + 1 :]:
                        if name in vars(base) and _from_dependency(base.__module__):
                            found.append(
                                f"{klass.__module__}.{klass.__qualname__}.{name} "
                                f"overrides {base.__module__}.{base.__qualname__}"
                            )
                            break
    return found


def offenders(package_dir) -> list[str]:
    """Every touch of a dependency's private name outside ``_compat/``."""
    package_dir = Path(package_dir)
    trees = {p: ast.parse(p.read_text()) for p in sorted(package_dir.rglob("*.py"))}
    outside = {p: t for p, t in trees.items() if "_compat" not in p.parts}
    ours = _our_names(trees, outside)
    found, module_names = [], []
    for path, tree in outside.items():
        rel = path.relative_to(package_dir.parent)
        if path.name != "__main__.py":  # importing it runs the command
            module_names.append(".".join(rel.with_suffix("").parts))
        modules, bound = _imports(tree)
        for line, module in modules:
            if module and PRIVATE_MODULE.match(module):
                found.append(f"{rel}:{line} imports {module}")
        for line, owner, name in _attribute_uses(tree):
            if owner in bound:
                found.append(f"{rel}:{line} reads {owner}.{name}")
            elif name not in ours:
                found.append(f"{rel}:{line} uses .{name}")
    bodies = _class_bodies(outside, package_dir)
    return sorted(set(found + _overrides(module_names, bodies)))
