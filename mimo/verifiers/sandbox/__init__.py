"""Isolated execution of untrusted programs (bubblewrap), the per-test runner and the judge service."""
