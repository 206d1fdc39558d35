"""`eightxeight segments` with no text: 8x8 refuses it, so the command says so (exit 3)."""

from __future__ import annotations

import json

import pytest

from .test_cli_segments import invoke


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        pytest.param(["segments", ""], None, id="empty-argument"),
        pytest.param(["segments", "   "], None, id="spaces"),
        pytest.param(["segments", "-"], "", id="empty-stdin"),
        pytest.param(["segments", "-"], "\n", id="a-line-break-on-stdin"),
    ],
)
def test_an_empty_text_exits_3_naming_text(args: list[str], stdin: str | None) -> None:
    code, out, err = invoke(*args, stdin=stdin)
    assert code == 3, out + err
    assert out == ""
    assert "Invalid TEXT: it is empty" in err
    assert "8x8 refuses a message with no text" in err


def test_an_empty_text_with_json_is_one_error_document() -> None:
    code, out, _ = invoke("--json", "segments", "")
    assert code == 3
    error = json.loads(out)["error"]
    assert error["exit_code"] == 3
    assert error["message"].startswith("Invalid TEXT")
