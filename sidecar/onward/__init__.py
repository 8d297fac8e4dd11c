"""Onward forwarding: every record, from a spool cursor of its own, to an aggregator."""
