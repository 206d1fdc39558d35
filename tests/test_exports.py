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


def _own_bases(cls: type) -> list[type]:
    """The class and the private classes of ours it inherits from (method groups such as the
    client's), whose members are public through it; exported bases are checked on their own."""
    return [
        base
        for base in cls.__mro__
        if base is cls
        or (
            base.__module__.startswith("eightxeight_async._")
            and base.__name__ not in eightxeight_async.__all__
        )
    ]


def _public_members(cls: type) -> list[tuple[str, Any]]:
    """The public methods and properties a class defines itself or takes from a private base of
    ours (inherited ones from exported classes are checked on the class that defines them)."""
    members = []
    seen: set[str] = set()
    for name, value in [item for base in _own_bases(cls) for item in vars(base).items()]:
        if name in seen:
            continue
        seen.add(name)
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


#: The 17 operations of 8x8's OpenAPI file, as methods of the client (the public contract).
OPERATIONS = {
    "send_sms": "Send-Sms-Single",
    "send_batch": "Send-Many-Sms",
    "cancel_batch": "cancel-many-sms-messages",
    "get_message": "get-sms-message-details",
    "cancel_message": "cancel-scheduled-message",
    "send_feedback": "api-Sms-Feedback",
    "delete_pii": "delete-pii",
    "send_survey": "Survey-Send",
    "send_survey_batch": "Survey-Send-Many",
    "start_log_export": "start-log-export-job",
    "get_log_export": "get-log-export-job-result",
    "cancel_log_export": "cancel-log-export-job",
    "get_prices": "get-price-list",
    "get_balance": "get-account-balance",
    "list_webhooks": "Get-Webhooks-2",
    "set_webhook": "Add-Webhooks-2",
    "delete_webhooks": "Delete-Webhooks-2",
}


def test_every_operation_of_the_openapi_file_is_a_client_method() -> None:
    """The client has one coroutine method per operation of sms_api.json, each with a raw twin."""
    import json
    from pathlib import Path

    spec = json.loads((Path(__file__).parent / "data" / "sms_api.json").read_text())
    ids = {
        op["operationId"]
        for item in spec["paths"].values()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert set(OPERATIONS.values()) == ids
    client = eightxeight_async.AsyncSmsClient
    raw = eightxeight_async.AsyncSmsClientWithRawResponse
    for name in OPERATIONS:
        assert inspect.iscoroutinefunction(getattr(client, name)), name
    # The raw wrapper sets its methods per instance, from the client's.
    hints = typing.get_type_hints(raw.__init__)
    assert "client" in hints


@pytest.mark.parametrize(
    "name",
    [
        "AsyncSmsClientWithRawResponse",
        "Balance",
        "BatchMessage",
        "BatchResponse",
        "BatchTemplate",
        "CancelResponse",
        "LogExportError",
        "LogExportStatus",
        "LogRecord",
        "NotPrepaidError",
        "PriceList",
        "RawResponse",
        "SurveyBatchMessage",
        "SurveyTemplate",
        "Webhook",
        "WebhookOAuth",
    ],
)
def test_new_operation_names_are_exported(name: str) -> None:
    """The names the 13 new operations take and return are importable from the package."""
    assert name in eightxeight_async.__all__
