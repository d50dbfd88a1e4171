"""Exceptions raised by algoeff.

    AlgoeffError (ValueError)
     +-- LedgerError       a ledger file, entry or benchmark is invalid
     +-- CountError        a model or input cannot be FLOP-counted
     +-- EstimateError     an estimate's inputs are missing or invalid
     +-- StoreError        the run store cannot be read or written
     +-- TrackError        a tracker, target or recorded metric is misused
     +-- StudyError        a study or workload cannot run (missing data, bad options)
     +-- ReportError       a report cannot be generated

Library code raises these; only the CLI catches them, prints
``<ClassName>: <message>`` on one line and exits with status 1.
They subclass ValueError so callers that validate input can catch either.
"""

__all__ = [
    "AlgoeffError",
    "CountError",
    "EstimateError",
    "LedgerError",
    "ReportError",
    "StoreError",
    "StudyError",
    "TrackError",
]


class AlgoeffError(ValueError):
    """Base class of every error algoeff raises on bad input."""


class LedgerError(AlgoeffError):
    """A ledger file, entry or benchmark is invalid."""


class CountError(AlgoeffError):
    """A model or its inputs cannot be FLOP-counted."""


class EstimateError(AlgoeffError):
    """An estimate's inputs are missing or invalid."""


class StoreError(AlgoeffError):
    """The run store cannot be read or written."""


class TrackError(AlgoeffError):
    """A tracker, target or recorded metric is misused."""


class StudyError(AlgoeffError):
    """A study or workload cannot run."""


class ReportError(AlgoeffError):
    """A report cannot be generated."""
