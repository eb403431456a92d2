"""Comparing two matched models: running them, the localization stages, the result records."""
