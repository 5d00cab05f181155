"""Benchmarks of RefNet's publish path and projection worker (`python -m bench.throughput`)."""
