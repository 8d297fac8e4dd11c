"""One module per ``predlog`` subcommand; each exposes ``command``."""
