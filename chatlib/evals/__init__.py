"""Prompt sets: prompts read from a file with their checks, run against targets x repeats, kept
and reported; and the command line for CI."""
