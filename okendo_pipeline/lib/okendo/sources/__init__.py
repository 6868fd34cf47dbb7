"""Where Okendo data comes from: the signed webhook receiver and the Enterprise API extractor."""
