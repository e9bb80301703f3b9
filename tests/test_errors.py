"""One error hierarchy: every error type of the project derives from ``IngestionError``."""

from __future__ import annotations

import ast
import builtins
import inspect
import re

from ingestion import errors
from ingestion.settings import PROJECT_ROOT

BUILTIN_EXCEPTIONS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):  # psycopg.Error, raw.LoadError
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _classes() -> dict[str, tuple[str, list[str]]]:
    """Every class of the three packages: name -> (where, its base names)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for package in ("ingestion", "orchestration", "dashboard"):
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    where = f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
                    found[node.name] = (where, [_base_name(b) for b in node.bases])
    return found


def test_every_error_type_derives_from_ingestion_error() -> None:
    classes = _classes()
    project_errors = {"IngestionError"}
    changed = True
    while changed:  # the classes that derive from one of the project's errors
        changed = False
        for name, (_, bases) in classes.items():
            if name not in project_errors and project_errors & set(bases):
                project_errors.add(name)
                changed = True
    outside = [
        f"{where} {name}({', '.join(bases)})"
        for name, (where, bases) in classes.items()
        if name not in project_errors
        and any(b in BUILTIN_EXCEPTIONS or b.endswith(("Error", "Exception")) for b in bases)
    ]
    assert not outside, "error types outside the ingestion.errors hierarchy: " + "; ".join(outside)
    assert len(project_errors) >= 18  # the hierarchy, the private ones, the dashboard's


def test_the_documented_tree_is_the_hierarchy() -> None:
    """The tree in ``ingestion.errors``' docstring names every class under its real base."""
    assert errors.__doc__ is not None
    parents: dict[str, str] = {}
    stack: list[str] = []
    for line in errors.__doc__.splitlines():
        match = re.match(r"^ {4}((?:[│ ] {3})*)(?:[├└]── )?([A-Z]\w+)\b", line)
        if match is None:
            continue
        depth = len(match.group(1)) // 4 + (1 if "── " in line else 0)
        del stack[depth:]
        if stack:
            parents[match.group(2)] = stack[-1]
        stack.append(match.group(2))
    defined = {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, Exception) and cls.__module__ == errors.__name__
    }
    assert set(parents) | {"IngestionError"} == set(defined)
    for name, parent in parents.items():
        assert defined[name].__bases__[0] is defined[parent], (name, parent)
