"""Retrieval: BM25 and dense retrievers over the store, fused into one ranking."""
