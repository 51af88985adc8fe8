"""AppTest tests of the dashboard pages (each page against a seeded store)."""
