"""Task registry and data: generation, translation and summarization variants, and custom tasks."""
