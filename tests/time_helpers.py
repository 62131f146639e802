"""Recordings in modeled time for the tests: one call, the recorder and its trace."""
from kmodel.consumer.ctf import read_trace
from kmodel.consumer.record import RecordOptions
from kmodel.consumer.timed_record import TimedOptions, TimedRecorder
from kmodel.perf.arrivals import Workload

NCPUS = 8               # numa2, the default machine


def only(cpus, rate, **kw):
    """A Workload at rate on the CPUs listed, quiet on the others."""
    return Workload(rate, cpu_rates=tuple((c, 0.0) for c in range(NCPUS) if c not in cpus),
                    **kw)


def record_in_time(outdir, workload, time_ns, rec_kw=None, **timed_kw):
    """record_in_time - (recorder, per-CPU stats, trace) of a recording in time."""
    outdir.mkdir(parents=True, exist_ok=True)
    rec = TimedRecorder(RecordOptions(**(rec_kw or {})),
                        TimedOptions(workload, time_ns, **timed_kw), str(outdir))
    stats = rec.run()
    return rec, stats, read_trace(str(outdir))


def timestamps(trace, cpu, name=None):
    """Every event's timestamp on cpu's stream, in order (of one event name)."""
    return [ts for p in trace.get(f"channel0_{cpu}", []) for ts, n, _ in p.events
            if name is None or n == name]
