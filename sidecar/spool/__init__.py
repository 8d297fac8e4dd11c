"""Stage 2: the local spool between ingest and the store: segment files, their format, readers."""
