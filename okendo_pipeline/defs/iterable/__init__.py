"""Iterable: settings, limits, payloads, client, codec, sender, resource and sync."""
