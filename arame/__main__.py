"""``python -m arame`` runs the command line."""

from arame.cli import main

main()
