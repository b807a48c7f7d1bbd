"""Models: an encoder plus a scorer producing a structkd factorization's potentials (parsers)."""
