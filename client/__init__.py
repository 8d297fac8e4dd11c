"""predlog client."""
