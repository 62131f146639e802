"""SIGINT and SIGTERM: every job stops cleanly on either.

Python turns SIGINT into KeyboardInterrupt in the main thread;
``stop_on_sigterm`` turns SIGTERM into ``Terminated`` the same way, so that a
long job's ``finally`` clauses (its worker processes, its scratch directory,
the new file of an output not yet renamed) run for both, and the job can say
what it had done.  kmodel then exits 128 + the signal's number, as a shell
reports a job a signal ended: 130 for SIGINT, 143 for SIGTERM.

A job that must finish its last step before it stops (trace record: a final
flush, the table, a whole trace) uses ``StopSignals`` instead: its handlers
only note the signal, and the job asks ``stop.requested()`` between two of
its steps, stops there and finishes.  A second signal means "now": it raises
KeyboardInterrupt or Terminated, as above.
"""
import os
import signal
import threading
from contextlib import contextmanager

__all__ = ["Terminated", "Stopped", "early_stop", "stop_on_sigterm", "exit_status",
           "signal_name", "StopSignals"]


class Stopped(BaseException):
    """The first SIGINT or SIGTERM, raised inside ``StopSignals.raising()`` (a
    job waiting on others cannot ask between two steps of its own)."""


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException, as KeyboardInterrupt: no ``except
    Exception`` swallows it)."""


def early_stop(signum, frame):
    """The handler while kmodel starts (kmodel/cli/entry.py), nothing touched
    yet: say which signal, exit 128 + its number at once."""
    try:
        os.write(2, f"kmodel: stopped by {signal.Signals(signum).name}\n".encode())
    finally:
        os._exit(128 + signum)


def _raise_terminated(signum, frame):
    raise Terminated()


@contextmanager
def stop_on_sigterm():
    """stop_on_sigterm - SIGTERM raises Terminated in the main thread while
    the block runs (elsewhere, or where SIGTERM was ignored, nothing changes).
    SIGINT, if the console script's early handler holds it (kmodel/cli/entry.py:
    exit at once, nothing touched yet), raises KeyboardInterrupt again, as
    Python's own handler does, so that the job's cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old_int = signal.getsignal(signal.SIGINT)
    if old_int is early_stop:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    old = signal.getsignal(signal.SIGTERM)
    if old != signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if old != signal.SIG_IGN:
            signal.signal(signal.SIGTERM, old)
        if old_int is early_stop:
            signal.signal(signal.SIGINT, early_stop)


def exit_status(exc):
    """exit_status - 128 + the number of the signal behind exc."""
    return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


def signal_name(exc):
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


class StopSignals:
    """``with StopSignals() as stop:`` the first SIGINT or SIGTERM is noted
    (``stop.signum``), for the job to stop between two steps; a second one
    raises, as stop_on_sigterm would.  The handlers before are restored.
    Outside the main thread the signals stay as they were (and nothing is
    ever requested)."""
    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum = None              # the first signal that came, or None
        self._old = {}
        self._raise = False             # in raising(): the first one raises Stopped

    @contextmanager
    def raising(self):
        """raising - while the block runs, the first signal is noted and raises
        Stopped as well: for a part of a job that waits on others (worker
        processes) and cannot look at requested() between its steps.  One that
        came before the block raises Stopped as the block starts."""
        if self.signum is not None:
            raise Stopped()
        self._raise = True
        try:
            yield
        finally:
            self._raise = False

    def requested(self) -> bool:
        """requested - a signal asked the job to stop."""
        return self.signum is not None

    @property
    def name(self) -> str | None:
        """The first signal's name (SIGINT, SIGTERM), or None."""
        return signal.Signals(self.signum).name if self.signum else None

    @property
    def exit_status(self) -> int:
        """128 + the first signal's number: what the command exits with."""
        return 128 + self.signum

    def _handle(self, signum, frame):
        if self.signum is not None:     # the second: stop now
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        self.signum = signum
        if self._raise:
            raise Stopped()

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
