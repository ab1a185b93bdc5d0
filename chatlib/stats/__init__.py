"""Latency and throughput of stored runs per provider and model, and the runs' export with
their per-chunk timestamps."""
