"""predlog predlog."""
