"""`robolearn demo`: the whole stack end to end, sim-only, into one HTML report."""
