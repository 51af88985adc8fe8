"""Runs on disk and their life cycle: the run-directory protocol (rundir), the queue (submit, claim,
cancel, resume, delete) and the worker loop."""
