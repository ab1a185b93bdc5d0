"""Helpers shared by the test suite and the benchmarks: start the real app, drive a real
browser. Not part of the app."""
