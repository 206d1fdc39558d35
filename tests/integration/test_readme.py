"""The README's runnable examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

README = Path(__file__).parents[2] / "README.md"
BLOCKS = [
    block
    for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    if "asyncio.run(" in block
]


def test_readme_has_a_runnable_example() -> None:
    """The README keeps at least one complete example."""
    assert BLOCKS


@pytest.mark.parametrize("source", BLOCKS)
def test_readme_example_runs(source: str, tmp_path: Path) -> None:
    """Each complete example runs to the end against the sandbox it starts."""
    script = tmp_path / "example.py"
    script.write_text(source)
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    if "retry_without_waiting" in source:  # the testing example: one 429, waited out instantly
        assert "retried after [1.0] s" in result.stdout
        assert "not replayed; look up" in result.stdout
    else:  # the client example follows its message to the end
        assert " delivered " in result.stdout


def test_readme_has_the_testing_example() -> None:
    """The "Testing your own code" snippet is a complete program, so it runs here too."""
    assert any("retry_without_waiting" in block for block in BLOCKS)
