"""``python -m spyglass`` runs the CLI."""

from ._cli import main

# Guarded: the trace writer process is started with "spawn", which imports this module again.
if __name__ == "__main__":
    main()
