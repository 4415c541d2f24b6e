"""The exit codes of the ``sandbox`` command: what the README and every ``--help`` list."""

EXIT_OK = 0  # done, and whatever was checked held
EXIT_FAILED = 1  # done, and something failed: a check, a scenario, a load's verdict
EXIT_USAGE = 2  # the command line or a file it names cannot be used
EXIT_NO_BROKER = 3  # no broker answered
EXIT_UNDECIDED = 4  # contracts diff: nothing known to break, but a change could not be decided
EXIT_BROKEN_PIPE = 141  # the reader of the output went away (`| head`), as 128 + SIGPIPE

MEANINGS = {
    EXIT_OK: "success: done, and whatever was checked held",
    EXIT_FAILED: "a check, scenario, process or load failed; `status`: unhealthy or none runs",
    EXIT_USAGE: "bad usage or configuration: the command line, a file it names, a setting",
    EXIT_NO_BROKER: "no broker: none answered, it refused the login, or none could be started",
    EXIT_UNDECIDED: "`contracts diff` only: nothing known to break, but a change undecided",
    EXIT_BROKEN_PIPE: "the output's reader went away (`sandbox up | head`): stopped quietly",
}


def help_text() -> str:
    """The exit codes as the epilog of every ``--help``."""
    return "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in MEANINGS.items())
