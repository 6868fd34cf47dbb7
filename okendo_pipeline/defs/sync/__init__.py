"""Sync jobs, sensors and destination assets, built the same way for every destination."""
