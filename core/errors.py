"""The one error type the CLI turns into a one-line message and a non-zero exit."""
from __future__ import annotations


class FaceplateError(Exception):
    """A user-facing failure: the message names the file and what to do, on one line."""

    exit_code = 2


class TrackFileError(FaceplateError):
    """A track file that fails validation; the message names the first bad field."""


class ModelError(FaceplateError):
    """A model file that is missing, has the wrong sha256 or does not match its contract."""


class PlateError(FaceplateError):
    """A plate frame that is missing, unreadable, truncated or inconsistent with the shot."""
