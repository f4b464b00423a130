"""Reinforcement learning engine: rule-based rewards and the code sandbox (no Dagster import)."""
