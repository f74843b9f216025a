"""Pneumoscope desktop application (PySide6). Talks to :mod:`core` only through its public API."""
