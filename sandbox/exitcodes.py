"""The exit codes of the ``sandbox`` command, as the README lists them."""

EXIT_OK = 0  # done, and whatever was checked held
EXIT_FAILED = 1  # done, and something failed: a check, a scenario, a load's verdict
EXIT_USAGE = 2  # the command line or a file it names cannot be used
EXIT_NO_BROKER = 3  # no broker answered
EXIT_UNDECIDED = 4  # contracts diff: nothing known to break, but a change could not be decided
