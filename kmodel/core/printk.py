"""printk and the kernel log buffer (kernel/printk.c).

Messages carry a level prefix as in C (``KERN_WARNING "..."``).  The log is a
ring of records bounded by ``log_buf_len`` bytes, like ``__LOG_BUF_LEN``;
the oldest records go first.  Timestamps are off, as they were by default in
2009 (CONFIG_PRINTK_TIME=n), which also keeps transcripts deterministic.
"""
from collections import deque

KERN_EMERG = "<0>"
KERN_ALERT = "<1>"
KERN_CRIT = "<2>"
KERN_ERR = "<3>"
KERN_WARNING = "<4>"
KERN_NOTICE = "<5>"
KERN_INFO = "<6>"
KERN_DEBUG = "<7>"
DEFAULT_MESSAGE_LOGLEVEL = 4


class LogBuf:
    """The kernel's log buffer: records of (level, text)."""

    def __init__(self, log_buf_len=1 << 17):
        self.log_buf_len = log_buf_len
        self.records = deque()
        self.size = 0
        self.seq = 0                    # records ever logged

    def printk(self, msg):
        """printk - log msg (with an optional KERN_* prefix); one record a line."""
        level = DEFAULT_MESSAGE_LOGLEVEL
        if len(msg) >= 3 and msg[0] == "<" and msg[2] == ">" and msg[1].isdigit():
            level = int(msg[1])
            msg = msg[3:]
        for line in msg.rstrip("\n").split("\n"):
            self.records.append((level, line))
            self.size += len(line) + 1
            self.seq += 1
        while self.size > self.log_buf_len and self.records:
            _, old = self.records.popleft()
            self.size -= len(old) + 1

    def lines(self):
        return [t for _, t in self.records]

    def text(self):
        return "".join(t + "\n" for _, t in self.records)

    def since(self, seq):
        """since - the lines logged after the record count seq (for consoles)."""
        n = self.seq - seq
        if n <= 0:
            return []
        recs = list(self.records)[-n:]
        return [t for _, t in recs]

    def clear(self):
        """clear - what dmesg -c does after printing."""
        self.records.clear()
        self.size = 0
