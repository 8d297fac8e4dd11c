"""predlog dashboard."""
