"""The public surface: what `eightxeight_async` exports, and how it presents itself."""

from __future__ import annotations

import inspect

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


def test_public_names_have_docstrings() -> None:
    """Every public class and function documents itself."""
    for name in eightxeight_async.__all__:
        obj = getattr(eightxeight_async, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name


def test_py_typed_is_shipped() -> None:
    """The package declares its inline types (PEP 561)."""
    from importlib.resources import files

    assert files("eightxeight_async").joinpath("py.typed").is_file()
