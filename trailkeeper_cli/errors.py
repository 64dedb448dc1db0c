"""The CLI's own error: what main turns into a one-line message and exit status 2 (never a catch-all)."""


class UsageError(Exception):
    """The command line asks for something the command cannot do: a bad option value, a folder that is not one."""
