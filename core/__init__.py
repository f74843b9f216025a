"""Pneumoscope core: the GUI-free engine (imaging, data, training, evaluation, bundles, audit, CLI).

Nothing in this package imports Qt; tests/core/test_architecture.py and the import-linter
contract in pyproject.toml enforce it.
"""

__version__ = "0.2.0"

# Convention used everywhere in the project: a score >= threshold means PNEUMONIA (positive).
POSITIVE_CLASS = "PNEUMONIA"
NEGATIVE_CLASS = "NORMAL"
