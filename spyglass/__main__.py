"""``python -m spyglass`` runs the CLI."""

from ._cli import main

main()
