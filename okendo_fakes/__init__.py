"""Loopback fakes of the destination APIs, for tests and the sample-data demo."""
