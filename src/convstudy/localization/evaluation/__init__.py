"""Evaluating the localization: planted faults and equivalent rewrites, and a benchmark."""
