"""How a long command stops on SIGINT or SIGTERM: between two steps, cleanly.

``with StopSignals() as stop:`` installs handlers that only note the signal;
the command's loop asks ``stop.requested()`` between two of its steps (a
tick, a run, a point of a sweep) and, when asked to, stops there, finishes
what must be finished (a final flush, a report), and the command exits
128 + the signal's number (130 for SIGINT, 143 for SIGTERM).  A signal never
lands in the middle of a step: no half-written packet, no half-made state.
A second signal means "now": it raises KeyboardInterrupt, and the command's
clean-up (its finally blocks) runs on the way out.  The handlers before are
restored when the block ends.
"""
import signal

__all__ = ["StopSignals"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    def __init__(self):
        self.signum = None              # the first signal that came, or None
        self._old = {}

    def requested(self) -> bool:
        """requested - a signal asked the command to stop."""
        return self.signum is not None

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt     # the second: stop now
        self.signum = signum

    def __enter__(self) -> "StopSignals":
        for s in SIGNALS:
            self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
