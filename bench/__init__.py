"""predlog's benchmarks: each module's ``main(argv)`` runs one and returns its figures."""
