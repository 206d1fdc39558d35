"""Each rule lives in the one module named for it, and imports only run down DESIGN.md's flow.

Read from the source with ``ast`` (docstrings and comments do not count), so a rule that creeps
into a second module fails here, naming the module and the line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "eightxeight_async"


def package_modules() -> list[Path]:
    """Every module of the SDK; the sandbox is the server, not the SDK, and is left out."""
    return sorted(p for p in PACKAGE.rglob("*.py") if "sandbox" not in p.relative_to(PACKAGE).parts)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def docstrings(tree: ast.Module) -> set[int]:
    """The ids of the string constants that are docstrings (of modules, classes, functions,
    attributes)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for stmt in body:
            if (
                isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            ):
                found.add(id(stmt.value))
    return found


def strings(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """The string constants of a module that are not docstrings (f-string parts included)."""
    skip = docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.value, node.lineno


def imported(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Every module a tree imports (``from .x import y`` gives ``.x``), with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            yield "." * node.level + (node.module or ""), node.lineno


def names(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Every name a tree uses and every attribute it reads, with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.id, node.lineno
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            yield node.attr, node.lineno


def attributes(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Every attribute a tree reads (``x.pause``), with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            yield node.attr, node.lineno


RATE_LIMIT_FIELDS = {
    "send_per_second",
    "send_burst",
    "details_per_second",
    "details_burst",
    "account_per_second",
    "account_burst",
}


@pytest.mark.parametrize(
    ("what", "owner", "find"),
    [
        pytest.param(
            "the json module",
            {"_converters/_json.py"},
            lambda tree: [line for mod, line in imported(tree) if mod.split(".")[0] == "json"],
            id="only-converters-touch-json",
        ),
        pytest.param(
            "tenacity",
            {"_retry.py"},
            lambda tree: [line for mod, line in imported(tree) if mod.split(".")[0] == "tenacity"],
            id="only-retry-imports-tenacity",
        ),
        pytest.param(
            "a retry decision (should_retry, replay_ambiguous_sends, or reading the facts "
            "may_have_been_sent / permanent)",
            {"_retry.py", "_errors.py", "_config.py"},
            lambda tree: [
                line
                for name, line in names(tree)
                if name
                in {"should_retry", "replay_ambiguous_sends", "may_have_been_sent", "permanent"}
            ],
            id="only-retry-decides-retries",
        ),
        pytest.param(
            "a rate-limit bucket (its key, its limits, the pause of a 429)",
            {"_ratelimit.py", "_config.py"},
            lambda tree: (
                [
                    line
                    for text, line in strings(tree)
                    if text in {"sends", "details", "account"}
                    or text.endswith((":sends", ":details", ":account"))
                ]
                + [
                    line
                    for name, line in attributes(tree)
                    if name in RATE_LIMIT_FIELDS or name == "pause"
                ]
            ),
            id="only-ratelimit-knows-buckets",
        ),
        pytest.param(
            "an API path",
            {"_operations.py"},
            lambda tree: [line for text, line in strings(tree) if "/api/v1" in text],
            id="only-operations-know-paths",
        ),
    ],
)
def test_each_rule_lives_in_one_module(what: str, owner: set[str], find: object) -> None:
    """No module but the rule's owner holds it (the issue's git grep, done with ast)."""
    offenders = []
    for path in package_modules():
        if path.relative_to(PACKAGE).as_posix() in owner:
            continue
        lines = find(parse(path))  # type: ignore[operator]
        offenders += [f"{path.relative_to(PACKAGE.parent)}:{line}" for line in lines]
    assert not offenders, f"{what} outside {sorted(owner)}: {offenders}"


# DESIGN.md's flow, top to bottom: a module may import only modules on its own level or below.
LAYERS: list[set[str]] = [
    {"testing", "_testing_mock"},  # helpers for users' tests, over the client
    {"_client"},
    {"_client_messages", "_client_batches", "_client_exports", "_client_account", "_client_bulk"},
    {"bulk"},  # send_many's runner, journal and reconciliation, under the bulk method
    {"_calls"},
    {"_exports"},  # export_logs' polling and the CSV download, under the export methods
    {"_telemetry"},  # spans and measurements of a call, under _calls
    {
        "_operations",
        "_models",
        "_models_batch",
        "_models_exports",
        "_models_account",
        "_log_records",
        "_webhook_models",
        "_webhook_receiver",
        "_webhook_redis",
        "_tracking",
        "_tracking_models",
    },
    {"_retry"},
    {"_ratelimit", "_redis"},
    {"_http"},
    {"_transport", "_transport_errors"},
    {"_tls", "_aiohttp", "_proxy", "_pool", "_netbackend", "_reading"},
    {"_converters", "_validators", "_validators_ops", "_config", "_raw"},
    {"_errors", "_clock", "_version", "_segments"},
    {"_redact"},
]


def level_of(module: str) -> int | None:
    return next((i for i, layer in enumerate(LAYERS) if module in layer), None)


@pytest.mark.parametrize(
    "module", sorted({m for layer in LAYERS for m in layer}), ids=lambda m: str(m)
)
def test_imports_run_down_the_flow(module: str) -> None:
    """_client -> _calls -> operations/models -> _retry -> _ratelimit -> _http -> transport;
    _converters and _errors below."""
    single = PACKAGE / f"{module}.py"
    paths = [single] if single.exists() else sorted((PACKAGE / module).glob("*.py"))
    if not paths:
        pytest.skip(f"{module} does not exist (yet)")
    mine = level_of(module)
    assert mine is not None
    upward = []
    for path in paths:
        inside = path.parent != PACKAGE  # a module of a subpackage: ".." leaves it
        for target, line in imported(parse(path)):
            dots = len(target) - len(target.lstrip("."))
            if dots != (2 if inside else 1):
                continue  # third-party, or a sibling inside the subpackage
            name = target.lstrip(".").split(".")[0]
            theirs = level_of(name)
            if theirs is not None and theirs < mine:
                upward.append(f"{path.name} line {line}: {module} imports {name}")
    assert not upward, upward
