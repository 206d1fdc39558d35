"""``python -m eightxeight_async`` runs the ``eightxeight`` command."""

from ._cli import main

main()
