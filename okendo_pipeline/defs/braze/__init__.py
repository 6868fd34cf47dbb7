"""Braze destination: client resource and sync definitions."""
