"""Persistence: one SQLite database (runs, conversations) and small JSON settings files."""
