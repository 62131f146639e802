"""The built-in consumers: importing this registers them (consumer/base.py).

In the order ``trace record --help`` lists them: splice (zero copy, in this
process), mmap (a second process maps the frames), read (read(2) on the
buffer files).
"""
from kmodel.consumer import splice  # noqa: F401,I001
from kmodel.consumer import mmap_server  # noqa: F401
from kmodel.consumer import read  # noqa: F401
