"""Answering: evidence selection, generation, attribution and verification, chat, summaries."""
