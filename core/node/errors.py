"""Errors of the DICOM node, in plain language."""

from __future__ import annotations

from core.errors import PneumoscopeError


class NodeError(PneumoscopeError):
    """The DICOM node could not do what was asked."""


class NodeConfigError(NodeError):
    """A node setting is invalid (bad AE title, port, destination...)."""


class NodeSendError(NodeError):
    """Results could not be sent to the destination."""
