"""Statistics: bootstrap, DeLong, paired tests, multiple testing, agreement. Pure functions."""
