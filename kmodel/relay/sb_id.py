"""A sub-buffer ID's layout (LTTng's include/ringbuffer/backend_internal.h,
BITS_PER_LONG 64), apart from the table's algorithm (rb_backend.py), so that
a reader of a crashed region (pmem_table.py, crash extraction) loads the
layout and not the kernel.

An ID is an ``unsigned long`` cut in three: the index of a backend
sub-buffer (the low half), the noref flag (``SB_ID_OFFSET_SHIFT - 1``: "the
lowest bit of top word half"), and the offset tag above it
(``HALF_ULONG_BITS + 1``).
"""
SB_ID_OFFSET_SHIFT = 33
SB_ID_NOREF_SHIFT = 32
SB_ID_NOREF_MASK = 1 << SB_ID_NOREF_SHIFT
SB_ID_INDEX_MASK = SB_ID_NOREF_MASK - 1
RSB = -1        # the reader's ID, in the list of IDs a table hook stores (wsb's by position)
