"""Ingestion: read files, parse records, deduplicate, write to the store."""
