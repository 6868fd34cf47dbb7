"""The deterministic sample generator: SQL writes realistic landing folders."""
