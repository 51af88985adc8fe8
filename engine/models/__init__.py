"""Models: loading and the method transforms (load), local model builders (builders), training on
TRL (trainer) and batched generation (generate)."""
