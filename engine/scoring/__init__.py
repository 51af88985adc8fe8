"""Scoring: the sandbox for untrusted code, similarity metrics, static quality analysers, statistics."""
