"""Stopping a long job cleanly on SIGINT or SIGTERM.

A job that runs many steps (a search of interleavings) asks ``stop.requested()``
between two of them; while the block runs, SIGINT and SIGTERM only set it,
so the job ends at a point of its choosing, reports what it did, and the
command exits 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as
a shell reports a job a signal ended.  A second signal of either kind is not
caught: the handlers before the block are back by then, so a job that does
not stop can still be ended the ordinary way.
"""
import signal
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """What the handlers set: the first signal that asked the job to stop."""

    def __init__(self):
        self.signum = None

    def requested(self):
        return self.signum is not None

    @property
    def name(self):
        return signal.Signals(self.signum).name if self.signum else None

    @property
    def exit_status(self):
        return 128 + self.signum


@contextmanager
def stop_on_signals():
    """stop_on_signals - a StopRequest that SIGINT or SIGTERM sets during the
    block (the main thread only: elsewhere, the signals stay as they were)."""
    stop = StopRequest()
    try:
        old = {s: signal.getsignal(s) or signal.SIG_DFL for s in SIGNALS}

        def handler(signum, frame):
            stop.signum = signum
            for s, h in old.items():    # a second signal ends the job the old way
                signal.signal(s, h)

        for s in SIGNALS:
            signal.signal(s, handler)
    except ValueError:                  # not the main thread
        old = {}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)
