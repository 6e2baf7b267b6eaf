"""Reuse of trained flowsheets: optimization (and, later, the twin)."""
