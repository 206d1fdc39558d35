"""The entry point of the ``eightxeight`` command.

It imports nothing from the ``[cli]`` extra at module level: installed without the extra, the
command says which one to install instead of ending in ``ModuleNotFoundError``. The commands
themselves live in ``_cli_app``; its exit codes are documented there.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

#: Exit code for a command that cannot run as invoked (click's own code for bad usage).
EXIT_USAGE = 2
#: Exit code for Ctrl-C: 128 + SIGINT, what a shell reports.
EXIT_INTERRUPTED = 130

#: What ``--json`` prints on Ctrl-C: the CLI's error document, written out here because the JSON
#: helpers of ``_converters`` may be the very modules still loading (a test checks it against them).
INTERRUPTED_DOCUMENT = (
    '{\n  "error": {\n    "type": "Interrupted",\n    "message": "Interrupted.",\n'
    f'    "exit_code": {EXIT_INTERRUPTED}\n  }}\n}}\n'
)

# The commands that start the sandbox need its extra, which includes the CLI's.
_SANDBOX_COMMANDS = frozenset({"sandbox", "demo"})


def _missing_extra_message(argv: list[str]) -> str:
    if _SANDBOX_COMMANDS.intersection(argv):
        return (
            "eightxeight: this command needs the sandbox extra: "
            'pip install "eightxeight-async[sandbox]"'
        )
    return (
        'eightxeight: the command needs the cli extra: pip install "eightxeight-async[cli]" '
        '(or "eightxeight-async[sandbox]" for the sandbox and demo commands)'
    )


def main(argv: list[str] | None = None) -> None:
    """Run the ``eightxeight`` command and exit with its code.

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` when None.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        try:
            import click  # noqa: F401
            import rich  # noqa: F401
        except ImportError:
            sys.stderr.write(_missing_extra_message(args) + "\n")
            sys.exit(EXIT_USAGE)
        from ._cli_app import run

        run(args)
    except KeyboardInterrupt:
        # Ctrl-C while the modules load (a good part of a second), before click handles it.
        _interrupted("--json" in args)


def _interrupted(as_json: bool) -> None:
    sys.stderr.write("Interrupted.\n")
    if as_json:
        sys.stdout.write(INTERRUPTED_DOCUMENT)
    sys.exit(EXIT_INTERRUPTED)
