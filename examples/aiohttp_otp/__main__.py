"""Run the aiohttp.web OTP example: ``python -m examples.aiohttp_otp``.

``OTP_HOST`` and ``OTP_PORT`` choose where it listens (127.0.0.1:8000); the rest of the
configuration is in ``examples/otp_core.py``. A missing setting stops it with a list of what is
missing, before anything listens.
"""

from __future__ import annotations

import os
import sys

from aiohttp import web

from ..otp_core import ConfigError, cannot_start, listen_address
from .app import create_app


def main() -> int:
    """Check the configuration, then serve until Ctrl-C; the exit status.

    2 when a setting stops it (the problems printed, no traceback), before or at startup.
    """
    app = create_app()  # exits 2 with the list of problems, OTP_PORT's among them
    host, port = listen_address(os.environ)
    try:
        web.run_app(app, host=host, port=port)
    except ConfigError as exc:  # from the startup: a setting 8x8 or the client refused
        cannot_start(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
