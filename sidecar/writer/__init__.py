"""Stage 3: spool to store. Decoding and validation, the batching loop, its own process."""
