"""Allow ``python -m imagination``."""

from imagination.cli import main

main()
