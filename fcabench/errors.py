"""The one exception type that means "the user asked for something impossible".

The CLI turns it into a single ``error: ...`` line and exit code 2; library callers get an ordinary
``ValueError`` subclass they can catch.
"""


class FcabenchError(ValueError):
    """Bad input: an unknown name, an impossible configuration, a malformed file."""
