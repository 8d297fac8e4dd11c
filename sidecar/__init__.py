"""predlog sidecar."""
