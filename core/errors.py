"""Error types whose messages are meant for people, not for stack traces."""


class PneumoscopeError(Exception):
    """Base for every error whose message is shown to a user as it is."""
