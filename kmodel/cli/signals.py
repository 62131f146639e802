"""SIGINT and SIGTERM: every job stops cleanly on either.

Python turns SIGINT into KeyboardInterrupt in the main thread;
``stop_on_sigterm`` turns SIGTERM into ``Terminated`` the same way, so that a
long job's ``finally`` clauses (its worker processes, its scratch directory,
the new file of an output not yet renamed) run for both, and the job can say
what it had done.  kmodel then exits 128 + the signal's number, as a shell
reports a job a signal ended: 130 for SIGINT, 143 for SIGTERM.
"""
import signal
import threading
from contextlib import contextmanager

__all__ = ["Terminated", "stop_on_sigterm", "exit_status", "signal_name"]


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException, as KeyboardInterrupt: no ``except
    Exception`` swallows it)."""


def _raise_terminated(signum, frame):
    raise Terminated()


@contextmanager
def stop_on_sigterm():
    """stop_on_sigterm - SIGTERM raises Terminated in the main thread while
    the block runs (elsewhere, or where SIGTERM was ignored, nothing changes)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) == signal.SIG_IGN):
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def exit_status(exc):
    """exit_status - 128 + the number of the signal behind exc."""
    return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


def signal_name(exc):
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
