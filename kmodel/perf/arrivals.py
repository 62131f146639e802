"""Workloads in time: when each CPU's events arrive, how big they are, and
the interrupts that nest in its task.

A workload says, per CPU, the times (modeled ns, hw.clock) at which the
traced code reaches a tracepoint:

- ``Arrival.CONSTANT``: every 1/rate seconds, the first at time 0;
- ``Arrival.POISSON``: gaps drawn from an exponential law of mean 1/rate
  (a seeded generator per CPU);
- either one in on/off bursts (``burst_on_ns``/``burst_off_ns``): the law
  runs only in the on windows, which start at 0, every on + off ns, so the
  rate in a window is ``rate`` and the mean rate rate * on / (on + off);
- per-CPU imbalance: ``cpu_rates`` gives some CPUs a rate of their own (0:
  a quiet CPU);
- the size of each event, in bytes of the buffer (its 16-byte record header
  and payload), from a ``SizeDist``: fixed, uniform between two sizes, or
  exponential above the smallest event (MIN_SIZE);
- interrupts: Poisson arrivals at ``irq_rate`` a second on each CPU, each a
  handler that runs ``irq_duration_ns`` and writes an irq_handler_entry at
  its start and an irq_handler_exit at its end.  An interrupt that arrives
  while a handler runs nests in it (2.6.29 runs handlers with interrupts on
  unless IRQF_DISABLED), up to what the CPU's context stack takes
  (kmodel.cpu.context); the outer handler's time stops while the nested one
  runs.  A task event due while a handler runs waits for it to end.

The CPU is busy, between two arrivals, for what the tracer's work costs in
the timing model; the rest of the gap is the workload's own time (the
application between two tracepoints, or idle).  An event that arrives while
the CPU is still busy with the previous one waits (``Clock.wait_until``
moves no clock backwards), so a rate the tracer cannot follow shows as a
lower rate in the trace, with gaps equal to the modeled cost of an event.
"""
import enum
import random
import re
from dataclasses import dataclass

from hw.time_units import parse_rate

MIN_SIZE = 32           # a blob with no data: 16-byte record header + seq, len, crc
MAX_SIZE = 1 << 20


class Arrival(enum.Enum):
    CONSTANT = "constant"
    POISSON = "poisson"


@dataclass(frozen=True)
class SizeDist:
    """The size of an event in the buffer, in bytes (record header included)."""
    kind: str = "fixed"         # fixed | uniform | exp
    a: int = MIN_SIZE           # the size; the smallest; the mean
    b: int = MIN_SIZE           # the largest (uniform)

    @classmethod
    def parse(cls, text):
        """'32' fixed; '32-256' uniform; 'exp:64' exponential of mean 64 bytes."""
        s = str(text).strip()
        try:
            if s.startswith("exp:"):
                d = cls("exp", int(s[4:]), MAX_SIZE)
            elif re.fullmatch(r"\d+-\d+", s):
                lo, hi = (int(x) for x in s.split("-"))
                d = cls("uniform", lo, hi)
            else:
                d = cls("fixed", int(s), int(s))
        except ValueError:
            raise ValueError(f"event size {text!r}: N, LO-HI or exp:MEAN (bytes)") from None
        if not MIN_SIZE <= d.a <= d.b <= MAX_SIZE or (d.kind == "exp" and d.a == MIN_SIZE):
            raise ValueError(f"event size {text!r}: sizes are {MIN_SIZE}..{MAX_SIZE} bytes "
                             f"(an event has a 16-byte header and 16 bytes of fields), "
                             f"LO <= HI, an exponential's mean above {MIN_SIZE}")
        return d

    def draw(self, rng):
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.randint(self.a, self.b)
        return min(MAX_SIZE, MIN_SIZE + int(rng.expovariate(1 / (self.a - MIN_SIZE))))

    @property
    def mean(self):
        """mean - the mean size in bytes, as the buffer holds it (8-aligned
        records: exact for fixed sizes; uniform and exp are rounded as drawn)."""
        if self.kind == "fixed":
            return (self.a + 7) & ~7
        if self.kind == "uniform":
            return sum((s + 7) & ~7 for s in range(self.a, self.b + 1)) / (self.b - self.a + 1)
        return self.a + 4           # the rounding up to 8, on average about 4 bytes

    def __str__(self):
        return {"fixed": f"{self.a}", "uniform": f"{self.a}-{self.b}",
                "exp": f"exp:{self.a}"}[self.kind]


@dataclass(frozen=True)
class Workload:
    rate: float                         # events a second on each CPU (in a burst's window)
    arrival: Arrival = Arrival.CONSTANT
    burst_on_ns: int = 0                # 0: no bursts
    burst_off_ns: int = 0
    cpu_rates: tuple = ()               # ((cpu, events a second), ...): imbalance
    size: SizeDist = SizeDist()
    irq_rate: float = 0.0               # interrupts a second on each CPU
    irq_duration_ns: int = 0

    def rate_of(self, cpu):
        """rate_of - cpu's rate (events a second in a window)."""
        return dict(self.cpu_rates).get(cpu, self.rate)

    def mean_rate(self, cpu):
        """mean_rate - cpu's events a second over a long run (bursts averaged)."""
        r = self.rate_of(cpu)
        if self.burst_on_ns:
            r = r * self.burst_on_ns / (self.burst_on_ns + self.burst_off_ns)
        return r

    def describe(self):
        from hw.time_units import format_duration, format_rate
        s = f"{self.arrival.value} {format_rate(self.rate)} per CPU, {self.size} B events"
        if self.burst_on_ns:
            s += (f", bursts {format_duration(self.burst_on_ns)} on / "
                  f"{format_duration(self.burst_off_ns)} off")
        if self.cpu_rates:
            s += ", " + ", ".join(f"CPU {c} at {format_rate(r)}" for c, r in self.cpu_rates)
        if self.irq_rate:
            s += (f", irqs {format_rate(self.irq_rate)} of "
                  f"{format_duration(self.irq_duration_ns)}")
        return s


def parse_cpu_rates(text):
    """'1:0,3:500k' -> ((1, 0.0), (3, 500000.0))."""
    out = []
    for item in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*[:=]\s*(\S+)\s*", item)
        if not m:
            raise ValueError(f"--cpu-rates {text!r}: CPU:RATE,... (e.g. 0:2M,1:0)")
        out.append((int(m.group(1)), parse_rate(m.group(2))))
    return tuple(out)


def _rng(seed, cpu, what):
    return random.Random(f"{seed}:{cpu}:{what}")


def _law(rate, arrival, rng):
    """Times in ns of a point process of rate a second, from 0: constant
    spacing, or exponential gaps."""
    if rate <= 0:
        return
    gap = 1e9 / rate
    if arrival is Arrival.CONSTANT:
        i = 0
        while True:
            yield i * gap
            i += 1
    t = 0.0
    while True:
        t += rng.expovariate(1.0) * gap
        yield t


def task_times(w, cpu, seed, end_ns):
    """task_times - the times (ns) of cpu's task events before end_ns, in order."""
    on, off = w.burst_on_ns, w.burst_off_ns
    for v in _law(w.rate_of(cpu), w.arrival, _rng(seed, cpu, "task")):
        t = v if not on else (v // on) * (on + off) + v % on
        if t >= end_ns:
            return
        yield t


def irq_times(w, cpu, seed, end_ns):
    """irq_times - the times (ns) of cpu's interrupts before end_ns (Poisson)."""
    for t in _law(w.irq_rate, Arrival.POISSON, _rng(seed, cpu, "irq")):
        if t >= end_ns:
            return
        yield t


def sizes(w, cpu, seed):
    """sizes - cpu's event sizes, drawn in turn."""
    rng = _rng(seed, cpu, "size")
    while True:
        yield w.size.draw(rng)
