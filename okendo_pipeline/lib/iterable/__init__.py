"""Iterable: payloads, response models and the bulk client."""
