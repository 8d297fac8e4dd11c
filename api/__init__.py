"""predlog api."""
