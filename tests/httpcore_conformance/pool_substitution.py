"""Runs httpcore's own pool tests against LinearConnectionPool instead of httpcore's pool.

``scripts/httpcore-pool-tests`` copies this file as ``conftest.py`` into the test folder of the
httpcore sdist it downloads. It is not a conftest here, so the project's own suite never loads it:
it replaces ``httpcore.AsyncConnectionPool`` for the whole process.

What it does there:

- ``httpcore.AsyncConnectionPool`` becomes a subclass of :class:`LinearConnectionPool` that only
  carries the stock class name, because httpcore's tests compare ``repr(pool)`` text.
- ``anyio``-marked tests run on both asyncio and trio; ``trio``-marked tests run under
  ``trio.run`` (what pytest-trio would do for these fixture-free tests).
- It fails loudly when the substitution did not happen: before any test, when httpcore is not
  the installed copy of the expected version; after each test whose code builds an
  ``httpcore.AsyncConnectionPool``, when no LinearConnectionPool was built; at the end, when
  none was built at all.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
from collections.abc import Iterator
from typing import Any

import httpcore
import pytest

from eightxeight_async._pool import LinearConnectionPool

STOCK_POOL = httpcore.AsyncConnectionPool
_built = 0


class AsyncConnectionPool(LinearConnectionPool):
    """LinearConnectionPool under the stock class name, counting its instances."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        global _built
        super().__init__(*args, **kwargs)
        _built += 1


def pytest_configure(config: pytest.Config) -> None:
    """Swap the pool in, after checking that the httpcore under test is the one installed."""
    config.addinivalue_line("markers", "trio: run the test under trio.run")
    expected = os.environ.get("HTTPCORE_TESTS_VERSION")
    if expected is not None and httpcore.__version__ != expected:
        raise pytest.UsageError(
            f"httpcore {httpcore.__version__} is imported, but the tests are {expected}'s"
        )
    if "site-packages" not in (httpcore.__file__ or ""):
        raise pytest.UsageError(f"httpcore is imported from {httpcore.__file__}, not the venv")
    if LinearConnectionPool._assign_requests_to_connections is (
        STOCK_POOL._assign_requests_to_connections
    ):
        raise pytest.UsageError("LinearConnectionPool does not override the assignment pass")
    httpcore.AsyncConnectionPool = AsyncConnectionPool  # type: ignore[misc]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put the stock pool back."""
    httpcore.AsyncConnectionPool = STOCK_POOL  # type: ignore[misc]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every anyio test on both backends (anyio's own fixture only gives asyncio)."""
    backend: str = request.param
    return backend


@pytest.fixture(autouse=True)
def _pool_was_substituted(request: pytest.FixtureRequest) -> Iterator[None]:
    before = _built
    yield
    source = inspect.getsource(request.function)
    if "AsyncConnectionPool(" in source and _built == before:
        pytest.fail("this test built a pool, but not a LinearConnectionPool: not substituted")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``@pytest.mark.trio`` coroutines under trio."""
    if pyfuncitem.get_closest_marker("trio") is None:
        return None
    trio: Any = importlib.import_module("trio")
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    trio.run(functools.partial(pyfuncitem.obj, **kwargs))
    return True


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that never built our pool tested nothing of ours."""
    if session.testscollected and _built == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nNo LinearConnectionPool was built: the substitution did not happen.")
