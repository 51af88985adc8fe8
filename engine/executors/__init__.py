"""Executors: how a claimed run is executed (local subprocess; Ray cluster)."""
