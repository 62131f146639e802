"""The closed choices of a layered channel (LTTng's lib_ring_buffer_config).

LTTng configures its ring buffer once, at channel creation, with enums in one
config struct (include/ringbuffer/config.h): the mode, the allocation (per
CPU or global), the switch mode of a flush.  kmodel's are these.  Each is a
``StrEnum`` whose values are the plain words of the command line and the
shell (``mode=overwrite``, ``scope=per-cpu``), so a member compares equal to
its word and prints as it; the code compares members.
"""
from enum import StrEnum

__all__ = ["Mode", "Scope", "SwitchMode", "Era", "DEFAULT_ERA", "ERRATA"]


class Mode(StrEnum):
    """RING_BUFFER_OVERWRITE (the flight recorder: writers push the reader) or
    RING_BUFFER_DISCARD (a full buffer drops the new record and counts it)."""
    OVERWRITE = "overwrite"
    DISCARD = "discard"


class Scope(StrEnum):
    """RING_BUFFER_ALLOC_PER_CPU (a buffer per CPU, written by that CPU's
    contexts alone) or RING_BUFFER_ALLOC_GLOBAL (one buffer every CPU writes)."""
    PER_CPU = "per-cpu"
    GLOBAL = "global"


class SwitchMode(StrEnum):
    """How a flush closes a buffer's open packet (LTTng's enum switch_mode).

    ACTIVE: the periodic or asked-for flush (RING_BUFFER_FLUSH): close the
    open packet if it holds records, so that it is delivered.  FLUSH: the
    last flush of a buffer that is being stopped: close it as ACTIVE does,
    and, if records were lost since the last packet closed, write a packet
    (an empty one if need be) that carries the count; the buffer is then
    finalized (no more will be delivered: readers get -ENODATA when drained).
    LTTng finalizes in a separate step after its SWITCH_FLUSH; kmodel does
    both in one call.  EMPTY: close the open packet even if it holds only
    its header, or write an empty packet if none is open, and finalize
    nothing (lib_ring_buffer_switch_remote_empty, RING_BUFFER_FLUSH_EMPTY: a
    quiet stream still delivers a packet, whose timestamps say how far it
    got)."""
    ACTIVE = "active"
    FLUSH = "flush"
    EMPTY = "empty"


class Era(StrEnum):
    """Which LTTng the reader's side follows (kmodel's choice; docs/layers.md, "Eras").

    V2009: the 2009 layers (ltt-relay-lockless of the patch's time): n
    sub-buffers, the reader reads the sub-buffer in place, an overwriting
    writer pushes ``consumed`` past it even while it is read, and the reader
    learns at its put (-EIO) that what it read may be torn.  V2: lttng-modules
    since lttng 0.226 and 2.x (lib_ring_buffer_backend): in overwrite mode one
    more sub-buffer, the reader's, swapped into the writers' table at each get
    (update_read_sb_index), so a writer pushes the reader but never writes
    what it holds."""
    V2009 = "2009"
    V2 = "2.x"


DEFAULT_ERA = Era.V2


# The historical bugs that can be put back, by the name the code tests and
# the Kconfig option that restores each (docs/layers.md).
ERRATA = {"remote_flush": "CONFIG_KMODEL_RB_ERRATUM_REMOTE_FLUSH",
          "wrap_check": "CONFIG_KMODEL_RB_ERRATUM_WRAP_CHECK",
          "discard_sample": "CONFIG_KMODEL_RB_ERRATUM_DISCARD_SAMPLE",
          "ts_end": "CONFIG_KMODEL_RB_ERRATUM_TS_END",
          "remote_switch_mode": "CONFIG_KMODEL_RB_ERRATUM_REMOTE_SWITCH_MODE",
          "one_subbuf": "CONFIG_KMODEL_RB_ERRATUM_ONE_SUBBUF",
          "commit_seq": "CONFIG_KMODEL_RB_ERRATUM_COMMIT_SEQ"}
