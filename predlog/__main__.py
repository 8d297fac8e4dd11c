"""``python -m predlog``."""

from predlog.cli import main

main()
