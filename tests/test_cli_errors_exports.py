"""The command line's exit codes for log export failures (they used to fall through to exit 1)."""

from __future__ import annotations

from eightxeight_async import LogExportError, LogExportTimeoutError
from eightxeight_async._cli_errors import EXIT_API, EXIT_NOT_FINAL, describe


def test_a_failed_export_is_8x8_refusing() -> None:
    """A job 8x8 ended failed, error or cancelled exits 4, naming the job."""
    code, message, _, fields = describe(LogExportError("The job failed.", job_id="job-1"), None)
    assert code == EXIT_API
    assert fields == {"job_id": "job-1"}
    assert "failed" in message


def test_an_export_still_running_is_not_final() -> None:
    """export_logs past max_wait exits 7, as status --wait does, naming the job left running."""
    error = LogExportTimeoutError("The job is still running.", job_id="job-2")
    code, _, _, fields = describe(error, None)
    assert code == EXIT_NOT_FINAL
    assert fields == {"job_id": "job-2"}
