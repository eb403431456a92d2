"""Errors that stop a job with one clear line (bad input), as opposed to findings.

A converter crash or an unsupported operator is a *finding* and becomes a result row;
these exceptions are for *bugs in the input*: a missing or corrupt file, a wrong
checksum, an invalid configuration value. Their message names the file or key.
"""


class ConvstudyError(Exception):
    """Base class: the message is the one line a user sees."""


class DataError(ConvstudyError):
    """A dataset file is missing, truncated, corrupt or has the wrong checksum."""


class ConfigError(ConvstudyError):
    """A configuration value is invalid; the message names the key."""
