"""Stage 1: records in. The Fluentd forward protocol, its listener, and the api's spool files."""
