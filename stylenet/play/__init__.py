"""The play step (step.py: a score in, a performance out, in memory) and `stylenet perform`'s files in,
files out (batch.py)."""
