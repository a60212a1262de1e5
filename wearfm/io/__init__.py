"""Readers of raw recordings, the canonical Parquet schema, and writing datasets."""
