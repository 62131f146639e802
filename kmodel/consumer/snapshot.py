"""A flight recorder's snapshot: what a layered channel holds now, as a CTF
trace, without consuming it or stopping the writers (``lttng snapshot record``;
``kmodel trace record --snapshot-at TICK``).

For each buffer, as lttng-consumerd does for a snapshot (lttng-tools'
``lttng_kconsumer_snapshot_channel``, over lttng-modules' ioctls): a flush of
the open packet (RING_BUFFER_FLUSH), then RING_BUFFER_SNAPSHOT (sample the
consumed position and the start of the writer's sub-buffer), then each
packet between them taken by position (RING_BUFFER_GET_SUBBUF), copied out
at its padded size from where the sub-buffer table puts the reader's copy,
and given back unconsumed (RING_BUFFER_PUT_SUBBUF).  A packet a writer
pushed past meanwhile answers -EAGAIN and is skipped: a snapshot holds whole
packets only, the newest ones of each CPU.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kmodel.consumer.ctf import SHELL_WRITE, TraceInfo, metadata, stream_name
from kmodel.consumer.metadata_channel import lttng_metadata_packets
from kmodel.relay.rb_hotplug import flush_buffer
from kmodel.relay.relay_alloc import ltt_relay_read
from kmodel.relay.ring_buffer import (lib_ring_buffer_snapshot, subbuf_packet_size,
                                      subbuf_read_offset)

if TYPE_CHECKING:
    from kmodel.relay.ring_buffer import rb_channel

__all__ = ["snapshot_channel"]


def snapshot_channel(rbc: rb_channel, outdir: str,
                     meta: str | None = None) -> dict[int | None, int]:
    """snapshot_channel - write rbc's buffers' packets from consumed to the
    writer's sub-buffer to outdir (a new directory: metadata and one stream
    a buffer), consuming nothing; {cpu: packets written}.  meta is the
    recording's metadata text (its UUID, header format and clock), kmodel's
    default for rbc's header format if not given; it is written in metadata packets with rbc's UUID
    (metadata_channel.py), as LTTng's snapshot writes the metadata stream."""
    k = rbc.k
    os.mkdir(outdir)
    with open(os.path.join(outdir, "metadata"), "wb") as f:     # (metadata_channel.py)
        if meta is None:                                        # (the shell's channels)
            meta = metadata(TraceInfo(header="kmodel" if rbc.header is None
                                      else rbc.header.type.value), raw_ids={SHELL_WRITE})
        f.write(lttng_metadata_packets(meta, rbc.uuid))
    S = rbc.subbuf_size
    written: dict[int | None, int] = {}
    with k.on_cpu(k.boot_cpu):
        for cpu, rb in rbc.buffers():
            flush_buffer(rbc, rb)                       # RING_BUFFER_FLUSH
            written[cpu] = 0
            if lib_ring_buffer_snapshot(rb) < 0:       # RING_BUFFER_SNAPSHOT
                continue
            with open(os.path.join(outdir, stream_name(cpu)), "wb") as out:
                for pos in range(rb.cons_snapshot, rb.prod_snapshot, S):
                    if rbc.layer.get_subbuf__straight(rb, pos) < 0:    # GET_SUBBUF
                        continue                        # pushed past meanwhile
                    n = subbuf_packet_size(rb, pos)
                    data = bytearray(n)
                    ltt_relay_read(rb.rbuf, subbuf_read_offset(rb, pos), data, n)
                    rbc.release_subbuf__straight(rb, pos)              # PUT_SUBBUF
                    out.write(data)
                    written[cpu] += 1
    return written
