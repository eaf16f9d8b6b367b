"""Errors of the reconcile step; subclasses of OdspecError, so the CLI shows them like any other.

``ReconcileError`` belongs in :mod:`odspec.errors` (the style guide lists it there); it lives
here until that module's owner adds it, and then this module re-exports it.
"""

from __future__ import annotations

from odspec.errors import OdspecError


class ReconcileError(OdspecError):
    """A model directory cannot be trained into as asked."""


class RunRecordError(ReconcileError):
    """``odspec-run.json`` exists but cannot be read as a run record."""


class BuildMissingError(ReconcileError):
    """The build folder a run needs is missing or incomplete."""
