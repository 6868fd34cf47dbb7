"""Braze: payloads, response models and the /users/track client."""
