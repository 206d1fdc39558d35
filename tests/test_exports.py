"""The public surface: what `eightxeight_async` exports, and how it presents itself."""

from __future__ import annotations

import enum
import inspect
import typing
from typing import Any

import pytest

import eightxeight_async
from eightxeight_async import _errors


def test_all_is_sorted() -> None:
    """__all__ stays sorted, so additions are easy to review."""
    assert eightxeight_async.__all__ == sorted(eightxeight_async.__all__)


def test_all_is_complete() -> None:
    """Every public name imported into the package is in __all__, and every name there exists."""
    public = {
        name
        for name, value in vars(eightxeight_async).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public | {"__version__"} == set(eightxeight_async.__all__)


def test_every_error_is_exported() -> None:
    """Users can import every error of the tree from the package."""
    assert set(_errors.__all__) <= set(eightxeight_async.__all__)


def test_public_names_report_the_package_as_their_module() -> None:
    """Tracebacks and reprs say eightxeight_async.X, not a private module."""
    for name in eightxeight_async.__all__:
        obj = getattr(eightxeight_async, name)
        if inspect.isclass(obj):
            assert obj.__module__ == "eightxeight_async", name


def _public_members(cls: type) -> list[tuple[str, Any]]:
    """The public methods and properties a class defines itself (inherited ones are checked on
    the class that defines them, when that class is ours)."""
    members = []
    for name, value in vars(cls).items():
        if name.startswith("_") and name not in ("__init__", "__call__"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            members.append((name, value))
    return members


def _own_doc(obj: Any) -> str | None:
    # inspect.getdoc() falls back to a base class's docstring; only the object's own counts.
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return doc.strip() if isinstance(doc, str) and doc.strip() else None


def test_public_names_have_docstrings() -> None:
    """Every public class, function, method and property documents itself, not via a base."""
    missing = []
    for name in eightxeight_async.__all__:
        obj = getattr(eightxeight_async, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if _own_doc(obj) is None:
            missing.append(name)
        if inspect.isclass(obj) and not issubclass(obj, enum.Enum):
            for member_name, member in _public_members(obj):
                if member_name == "__init__":
                    continue  # documented in the class docstring, as the style guide says
                if _own_doc(member) is None:
                    missing.append(f"{name}.{member_name}")
    assert missing == []


def test_own_docstring_check_sees_inherited_ones() -> None:
    """The check above refuses a class that only inherits its docstring (inspect.getdoc would
    accept it)."""

    class Documented:
        """Documented."""

    class Undocumented(Documented):
        pass

    assert inspect.getdoc(Undocumented) == "Documented."
    assert _own_doc(Undocumented) is None


def _hinted_objects() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name in eightxeight_async.__all__:
        obj = getattr(eightxeight_async, name)
        if inspect.isclass(obj):
            found.append((name, obj))
            for member_name, member in _public_members(obj):
                functions = (
                    [f for f in (member.fget, member.fset) if f is not None]
                    if isinstance(member, property)
                    else [member]
                )
                found.extend((f"{name}.{member_name}", f) for f in functions)
        elif inspect.isfunction(obj):
            found.append((name, obj))
    return found


@pytest.mark.parametrize(
    ("name", "obj"), _hinted_objects(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_type_hints_resolve(name: str, obj: Any) -> None:
    """typing.get_type_hints() works on every exported class and public method (it raised
    NameError on 19 classes: string annotations under the rewritten __module__)."""
    typing.get_type_hints(obj)


def test_py_typed_is_shipped() -> None:
    """The package declares its inline types (PEP 561)."""
    from importlib.resources import files

    assert files("eightxeight_async").joinpath("py.typed").is_file()
