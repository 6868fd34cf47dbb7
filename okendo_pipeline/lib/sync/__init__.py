"""Diff-and-sync: what each destination last acknowledged, what changed, what was sent."""
