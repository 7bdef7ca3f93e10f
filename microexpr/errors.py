"""Exceptions that name the file, row or key at fault."""

from __future__ import annotations


class MicroexprError(Exception):
    """Base class for errors a user can act on (bad data, bad configuration)."""


class DatasetError(MicroexprError):
    """A dataset root, coding sheet or frame folder cannot be used as given."""


class FrameError(DatasetError):
    """A frame file is missing, empty or cannot be decoded; the message names the file."""


class FoldError(MicroexprError):
    """A training fold cannot run as configured (a leak, mismatched shards, diverging settings)."""


class PredictError(MicroexprError):
    """A bundle or an input that cannot be used; the message names it."""
