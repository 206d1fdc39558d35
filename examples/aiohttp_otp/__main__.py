"""Run the aiohttp.web OTP example: ``python -m examples.aiohttp_otp``.

``OTP_HOST`` and ``OTP_PORT`` choose where it listens (127.0.0.1:8000); the rest of the
configuration is in ``examples/otp_core.py``. A missing setting stops it with a list of what is
missing, before anything listens.
"""

from __future__ import annotations

import os
import sys

from aiohttp import web

from ..otp_core import ConfigError, configure_logging, listen_address
from .app import create_app


def main() -> int:
    """Check the configuration, then serve until Ctrl-C; the exit status."""
    try:
        app = create_app()
        host, port = listen_address(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging()
    web.run_app(app, host=host, port=port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
