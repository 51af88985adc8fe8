"""End-to-end test: the served app driven by headless Chromium."""
