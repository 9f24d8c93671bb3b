"""The data layer's errors: each says what was wrong and what was expected.

The command line prints them without a traceback and exits non-zero.
"""


class DataError(Exception):
    """Base class for expected data-layer failures."""


class UnknownDataset(DataError, KeyError):
    """A data-set name that is not in the manifest."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class FetchError(DataError):
    """A file could not be obtained from any source."""


class ChecksumMismatch(DataError):
    """A file's sha256 is not the one the manifest records."""


class MalformedFile(DataError, ValueError):
    """A file has the right name but not the expected format or content."""
