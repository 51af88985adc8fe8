"""A run's data: realising the task mixture (mixture), preparing training/validation/evaluation
examples (prepare) and describing the datasets in a data directory (inventory)."""
