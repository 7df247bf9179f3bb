"""The one exception type the command line turns into a one-line error."""


class NwbLdnsError(Exception):
    """A user-facing error: bad input, a missing resource, an unreadable file.

    The message is one line that says what is wrong and, where possible, what to do.
    The command line prints it as ``Error: <message>`` and exits with status 1.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # always one line


class MainRankFailed(NwbLdnsError):
    """Raised on the other processes under torchrun when rank 0 failed a step they wait on.

    Rank 0 prints why; the command line prints nothing more for this one.
    """


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM (what a job scheduler sends at a time limit), raised where the program is, so
    every ``finally`` runs: temporaries and scratch files are removed, nothing is reported done."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
