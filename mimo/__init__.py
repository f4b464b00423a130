"""MiMo-7B recipe engine: plain Python/PyTorch, no Dagster import (runs on cluster nodes)."""
__version__ = "0.1.0"
