"""How long `kmodel trace record` takes to stop on SIGINT, a large recording
in flight (a host-time figure, by hand: the goal of "every long job stops
within a second", issue 27).

    python bench/stop_latency.py [ROUNDS] [SECONDS]

Starts a 1 GiB recording (nehalem-2009, 4 x 32 MiB sub-buffers a CPU),
sends SIGINT after SECONDS (default 20), and prints the time from the signal
to the process's exit, and its exit status (130), for each round.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

KMODEL = os.path.join(os.path.dirname(sys.executable), "kmodel")
ARGS = ["-m", "nehalem-2009", "--subbuf-size", "32M", "--n-subbufs", "4",
        "--events", "1000000", "--rate", "1000"]


def one(after):
    d = tempfile.mkdtemp(prefix="stop-latency-")
    try:
        p = subprocess.Popen([KMODEL, "trace", "record", os.path.join(d, "t"), *ARGS],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(after)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        p.wait()
        return time.monotonic() - t0, p.returncode
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    after = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    for i in range(rounds):
        took, rc = one(after)
        print(f"round {i + 1}: exit {rc}, {took:.2f} s after SIGINT", flush=True)
