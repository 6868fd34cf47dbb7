"""Iterable destination: client resource and sync definitions."""
