"""HTTP ingestion: validate a batch whole, dedupe, sign, publish, remember; sequence blocks."""
