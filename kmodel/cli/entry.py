"""kmodel's console script, before anything heavy is imported.

SIGINT and SIGTERM are taken here, first, so that a signal that comes while
Python imports the emulator (a few hundred milliseconds) or while argparse
reads the command line ends kmodel as any other stop does: one line,
``kmodel: stopped by SIGINT``, exit 130 or 143, no traceback.  Nothing has
been touched yet (no file opened, no kernel booted), so leaving at once is
clean.  ``kmodel.cli.main.main`` hands the signals over to the job when it
starts it (``stop_on_sigterm``): from then on, a job stops as
kmodel/cli/signals.py describes.

This module imports only the standard library and kmodel/cli/signals.py (itself
only the standard library), and the
``kmodel`` package is lazy (kmodel/__init__.py), so the handlers are in place
within a few milliseconds of Python's start.
"""
import gc
import signal
import sys

from kmodel.cli.signals import early_stop

__all__ = ["main", "install", "EARLY_SIGNALS"]

EARLY_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install():
    """install - early_stop for SIGINT and SIGTERM (a signal the caller ignored,
    as a shell does for a background job's SIGINT, stays ignored)."""
    for sig in EARLY_SIGNALS:
        if signal.getsignal(sig) != signal.SIG_IGN:
            signal.signal(sig, early_stop)


def main(argv=None) -> int:
    install()
    from kmodel.cli.main import main as run_main
    rc = run_main(argv)
    # The job is done and its files closed: what is left is garbage (a dead
    # kernel's pages, its lists: millions of objects in cycles) that Python
    # would collect at exit, for a second or more after a large recording.
    # Frozen, it is not looked at; the host takes the memory back.
    gc.freeze()
    return rc


if __name__ == "__main__":
    sys.exit(main())
