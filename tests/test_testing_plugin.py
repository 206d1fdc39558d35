"""The pytest plugin (fixtures sms_mock, sms_client, sms_mock_options), run through pytester.

Also: the README's pytest example passes as written, the plugin imports next to nothing when
pytest loads it, and pytest still starts without the sandbox extra.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PLUGIN = "eightxeight_async_pytest"
README = Path(__file__).parents[1] / "README.md"

#: The README's examples of a user's own pytest tests: its python blocks that start with
#: ``# test_`` (tests/integration/test_readme.py runs the blocks that call asyncio.run).
EXAMPLES = [
    block
    for block in re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    if block.startswith("# test_")
]


def _plugin_args() -> list[str]:
    """``-p`` for the plugin unless its entry point is installed (pytest loads it then)."""
    installed = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", PLUGIN]


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeini(
        """
        [pytest]
        filterwarnings = error
        asyncio_default_fixture_loop_scope = function
        """
    )
    return pytester.runpytest_subprocess(*_plugin_args(), "-p", "no:cacheprovider", *args)


def test_the_readme_has_a_pytest_example() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("source", EXAMPLES)
def test_the_readme_pytest_example_passes(pytester: pytest.Pytester, source: str) -> None:
    """Each runs as the user would run it: its own file, the plugin, pytest-asyncio."""
    name = source.split("\n", 1)[0].removeprefix("# ").split(":", 1)[0].removesuffix(".py")
    pytester.makepyfile(**{name: source})
    result = _run(pytester)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1
    result.assert_outcomes(passed=outcomes["passed"])


def test_the_entry_point_is_declared() -> None:
    """pytest finds the plugin by the ``pytest11`` entry point of pyproject.toml."""
    text = (README.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert f'[project.entry-points.pytest11]\neightxeight_async = "{PLUGIN}"' in text


def test_the_options_fixture_configures_the_mock(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def sms_mock_options():
            return {"subaccounts": ("acme_hq",), "delivered_after": 60}
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_late_receipt(sms_mock, sms_client):
            assert sms_client.subaccount_id == "acme_hq"
            seen = []
            sms_mock.deliver_to(seen.append)
            await sms_client.send_sms(destination="+6591234567", text="hi")
            await sms_mock.advance(59)
            assert seen == []
            await sms_mock.advance(1)
            assert [r.state for r in seen] == ["delivered"]
        """
    )
    _run(pytester).assert_outcomes(passed=1)


def test_no_backoff_is_on_for_the_fixture_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from eightxeight_async._clock import pauses_skipped

        def test_with(sms_mock):
            assert pauses_skipped()

        def test_without():
            assert not pauses_skipped()
        """
    )
    _run(pytester).assert_outcomes(passed=2)


def test_a_handler_error_nobody_saw_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        def broken(event):
            raise RuntimeError("my handler is broken")

        @pytest.mark.asyncio
        async def test_it(sms_mock, sms_client):
            sms_mock.deliver_to(broken)
            await sms_client.send_sms(destination="+6591234567", text="hi")
            await asyncio.sleep(0)
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: my handler is broken*"])


def _python(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # No plugin is loaded by entry point: the plugin is named with -p where needed, whether or
    # not this environment has the package's entry point installed (both would clash).
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )


def test_the_plugin_imports_nothing_more() -> None:
    """Loading the plugin imports no module of the SDK (nor anything else but itself): the
    package, the mock, the sandbox and starlette come only with a fixture."""
    result = _python(
        f"""
        import sys
        import pytest
        before = set(sys.modules)
        import {PLUGIN}
        print(sorted(set(sys.modules) - before))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"[{PLUGIN!r}]"


def test_pytest_loads_the_plugin_without_importing_the_sdk(pytester: pytest.Pytester) -> None:
    """A pytest run whose tests do not use the SDK never imports it, though the plugin is on."""
    pytester.makepyfile(
        """
        import sys

        def test_nothing_imported(request):
            assert request.config.pluginmanager.has_plugin("eightxeight_async") or \
                request.config.pluginmanager.has_plugin("eightxeight_async_pytest")
            assert not [m for m in sys.modules if m.split(".")[0] == "eightxeight_async"]
        """
    )
    _run(pytester).assert_outcomes(passed=1)


_WITHOUT_SANDBOX = """
    import sys
    for name in ("starlette", "uvicorn", "trustme"):
        sys.modules[name] = None  # as if the sandbox extra were not installed
    import pytest
    sys.exit(pytest.main(sys.argv[1:]))
"""


def test_pytest_starts_without_the_sandbox_extra(tmp_path: Path) -> None:
    """Without starlette pytest runs; a test asking for the mock is told what to install."""
    (tmp_path / "test_x.py").write_text(
        textwrap.dedent(
            """
            from eightxeight_async.testing import retry_without_waiting

            def test_plain():
                with retry_without_waiting() as waits:
                    assert waits == []

            def test_mock(sms_mock):
                pass
            """
        )
    )
    result = _python(
        _WITHOUT_SANDBOX,
        "-p",
        PLUGIN,
        "-p",
        "no:cacheprovider",
        "-q",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert "1 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert 'pip install "eightxeight-async[sandbox]"' in result.stdout


def test_the_mock_names_the_extra_when_it_is_missing() -> None:
    result = _python(
        """
        import sys
        sys.modules["starlette"] = None
        try:
            from eightxeight_async.testing import SmsMock
        except ImportError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert 'pip install "eightxeight-async[sandbox]"' in result.stdout


def test_the_plugin_can_still_be_turned_off(pytester: pytest.Pytester) -> None:
    """The entry point keeps its name: ``-p no:eightxeight_async`` removes the fixtures."""
    if _plugin_args():
        pytest.skip("the package's pytest11 entry point is not installed here")
    pytester.makepyfile(
        """
        def test_it(sms_mock):
            pass
        """
    )
    result = _run(pytester, "-p", "no:eightxeight_async")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'sms_mock' not found*"])
