"""User-facing failures: each becomes one line on stderr and an exit status, never a traceback."""


class WirespeedError(Exception):
    """A problem the user can fix; str() is the whole message."""

    exit_status = 1


class UsageError(WirespeedError):
    """A bad option value: exit status 2, as argparse uses."""

    exit_status = 2


class PrivilegeError(WirespeedError):
    """Missing root or capabilities."""

    exit_status = 1


class KernelFeatureError(WirespeedError):
    """The running kernel lacks something we need."""

    exit_status = 1
