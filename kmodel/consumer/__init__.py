"""Consumers: what drains a buffer.  splice.py moves delivered sub-buffers to
files and sockets with no copy through Python; ctf.py says what the bytes mean
(CTF 1.8 metadata, and a small reader); record.py runs a workload and a
consumer together and leaves a trace on disk."""
