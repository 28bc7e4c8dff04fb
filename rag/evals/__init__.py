"""Evaluation: the question set and deterministic metrics (no remote judge)."""
