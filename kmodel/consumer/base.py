"""The consumer contract: what drains a layered channel into a trace on disk.

LTTng's consumer daemon takes delivered sub-buffers out of the kernel's
buffers through one of several outputs (splice, mmap, read), each its own
file behind one interface.  kmodel's consumers have the shape of its backends
(kmodel/relay/backend.py): a consumer is a subclass of :class:`Consumer` that
sets ``name`` (and ``help``, the words ``--help`` shows); defining the class
checks that it implements the contract and registers it, and the registry
is the one list of consumer names (``trace record --consumer NAME``, its
help and choices).  A new consumer is one file plus its tests; one defined
in a test file alone works under ``trace record``.

A consumer is made for one recording, on the channel of the workload, with
the directory to write (``outdir``).  It writes one CTF stream file a
buffer, ``channel0_<cpu>`` (``channel0_global`` for a global buffer;
``stream_path``), each a sequence of whole packets as the sub-buffer layer
wrote them (the ``metadata`` file is the recorder's).
The recorder calls, in order:

    start()             before the first event: set up (a process, a socket)
    consume(limit)      between ticks: take up to limit delivered sub-buffers
                        from each buffer (None: all that are delivered), and
                        give each back once it is written
    drain()             take everything delivered now, and return only when no
                        sub-buffer is delivered and unconsumed (the default:
                        consume(None); a consumer in another process waits
                        for it to catch up): the final flush needs room
    finish()            after the final flush: drain until every buffer is
                        finalized and empty (the default: consume(None))
    close()             always, after success or failure: release what start
                        took; a second call does nothing

``delivered(limit)`` is the loop most consumers want: each delivered
sub-buffer, taken and given back through the layer's reader.  A packet taken
at position ``pos`` is read where the sub-buffer table puts it,
``subbuf_read_offset(rb, pos)`` in the allocation layer's buffer (in era
2.x the reader's own copy), and is ``subbuf_packet_size(rb, pos)`` bytes on
disk (its content PAGE_ALIGNed in 2.x, the whole sub-buffer in 2009; both
in kmodel.relay.ring_buffer).  A put that says -EIO (era 2009: the writer
pushed the reader) drops what was written of it (``drop_torn``).  ``moved`` and
``calls`` count the bytes written to the streams and the system calls that
wrote them; ``summary()`` says it in the consumer's words.
"""
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from kmodel.consumer.ctf import stream_name
from kmodel.core.errno import EIO
from kmodel.core.registry import Registry

if TYPE_CHECKING:
    from kmodel.kernel import Kernel
    from kmodel.relay.ring_buffer import lib_ring_buffer, rb_channel

__all__ = ["Consumer", "get_consumer", "consumer_names", "unregister_consumer"]

_REGISTRY: Registry[type["Consumer"]] = Registry("consumer", instances=False)


class Consumer(ABC):
    name: ClassVar[str | None] = None   # set by a consumer: defining the class registers it
    help: ClassVar[str] = ""            # one line for --help
    # its turn leaves counts on the buffer's pages (it reads them through the
    # CPU, ltt_relay_read): a recording in ticks folds them after each turn,
    # off the clocks (kmodel.consumer.record._off_the_clock)
    reads_pages: ClassVar[bool] = True

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        _REGISTRY.add(cls)

    def __init__(self, k: "Kernel", rbc: "rb_channel", outdir: str):
        """A consumer of layered channel rbc (kmodel.relay.ring_buffer.rb_channel)
        on kernel k, writing its streams to outdir."""
        self.k = k
        self.rbc = rbc
        self.outdir = outdir
        self.moved = 0                  # bytes written to the stream files
        self.calls = 0                  # the system calls that wrote them
        self.files: dict[int | None, int] = {}  # cpu (None: global) -> the stream's fd
        self.torn = 0                   # packets dropped: their put said -EIO (era 2009)

    def stream_path(self, cpu: int | None) -> str:
        """stream_path - where cpu's stream goes (cpu None: the global buffer's)."""
        return os.path.join(self.outdir, stream_name(cpu))

    def stream_fd(self, cpu: int | None) -> int:
        """stream_fd - cpu's stream file, made (empty) on first use."""
        fd = self.files.get(cpu)
        if fd is None:
            fd = self.files[cpu] = os.open(self.stream_path(cpu),
                                           os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        return fd

    def delivered(self, limit: int | None
                  ) -> Iterator[tuple[int | None, "lib_ring_buffer", int]]:
        """delivered - (cpu, buffer, consumed position) of up to limit delivered
        sub-buffers of each buffer (None: all), each taken through the layer's
        reader (rbc.get_subbuf) and given back when the loop asks for the next
        (a loop that stops early, on an exception or a break, gives the
        sub-buffer back unconsumed: the next get takes it again)."""
        rbc = self.rbc
        for cpu, rb in rbc.buffers():
            taken = 0
            while limit is None or taken < limit:
                pos = rbc.get_subbuf__straight(rb)
                if pos < 0:
                    break
                fd = self.files.get(cpu)
                before = os.lseek(fd, 0, os.SEEK_CUR) if fd is not None else 0
                try:
                    yield cpu, rb, pos
                except GeneratorExit:
                    rbc.release_subbuf__straight(rb, pos)
                    raise
                if rbc.put_subbuf__straight(rb, pos) == -EIO:
                    self.drop_torn(cpu, before)
                taken += 1

    def drop_torn(self, cpu: int | None, size: int) -> None:
        """drop_torn - the packet just written to cpu's stream was pushed by a
        writer while it was read (era 2009: its put said -EIO): cut the stream
        back to size, as lttd dropped a corrupted sub-buffer, and count it."""
        fd = self.files.get(cpu)
        if fd is not None:
            os.ftruncate(fd, size)
            os.lseek(fd, size, os.SEEK_SET)
        self.torn += 1

    def start(self) -> None:
        """start - set up, before the first event (nothing by default)."""

    @abstractmethod
    def consume(self, limit: int | None) -> None:
        """consume - take up to limit delivered sub-buffers a buffer (None: all),
        write each to its CPU's stream, give each back."""

    def write_subbuf(self, cpu: int | None, rb: "lib_ring_buffer", pos: int) -> None:
        """write_subbuf - write the sub-buffer at pos of rb, which the caller
        holds (rbc.get_subbuf), to cpu's stream; the caller gives it back.  For
        recordings in time (consumer/timed.py), which take one sub-buffer at a
        time; a consumer that cannot says so."""
        raise NotImplementedError(f"consumer {self.name!r} cannot record in time "
                                  "(it has no write_subbuf)")

    def drain(self) -> None:
        """drain - consume until nothing delivered is left unconsumed."""
        self.consume(None)

    def finish(self) -> None:
        """finish - after the final flush: drain every buffer to the end."""
        self.consume(None)

    def close(self) -> None:
        """close - release what the consumer holds; safe to call again."""
        for fd in self.files.values():
            os.close(fd)
        self.files = {}

    def summary(self) -> str:
        """summary - what was moved and how, for the recorder's report."""
        return f"{self.moved:,} bytes written in {self.calls:,} write calls"


def get_consumer(name: str) -> type[Consumer] | None:
    """get_consumer - the consumer class registered under name, or None."""
    return _REGISTRY.get(name)


def consumer_names() -> list[str]:
    """consumer_names - every registered consumer, in the order they were defined."""
    return _REGISTRY.names()


def consumer_help() -> str:
    """consumer_help - 'name: what it does' for each consumer, for --help."""
    return "; ".join(f"{c.name}: {c.help}" for c in _REGISTRY.members())


def unregister_consumer(name: str) -> None:
    """unregister_consumer - forget a consumer (for tests that define their own)."""
    _REGISTRY.remove(name)
