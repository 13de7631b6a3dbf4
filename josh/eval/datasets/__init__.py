"""Readers of the benchmark datasets' published annotation formats (EMDB, SLOPER4D, RICH).

Each module provides `RULES`, `find_sequences(root)` and `load_sequence(ref, smpl)`; see `base`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DATASETS = ("emdb", "sloper4d", "rich")


def get(name: str) -> ModuleType:
    """The reader module of a dataset name."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return importlib.import_module(f"josh.eval.datasets.{name}")
