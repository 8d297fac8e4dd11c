"""predlog training."""
