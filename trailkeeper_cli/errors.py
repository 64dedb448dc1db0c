"""The CLI's own errors: what main turns into a one-line message and an exit status (never a catch-all)."""


class UsageError(Exception):
    """The command line asks for something the command cannot do: a bad option value, a folder that is not one,
    a local execution that ran past its --timeout. Exit status 2."""


class Interrupted(Exception):
    """Ctrl-C stopped a command; the message says what was kept. Exit status 130 (128 + SIGINT, as shells do)."""
