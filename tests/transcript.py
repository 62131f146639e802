"""Stored transcripts: run a script or command, normalize, compare with a file.

Line numbers of Python sources in kernel reports (WARNING: at file.py:123,
RIP: ... at file.py:123) are replaced by 'N', so that editing code does not
break a transcript.  Only KMODEL_UPDATE_TRANSCRIPTS=1 writes the files: a
stored transcript that is missing is a failure, in CI and everywhere else.
"""
import os
import re
from pathlib import Path

HERE = Path(__file__).parent / "transcripts"


def normalize(text):
    return re.sub(r"(\.py):\d+", r"\1:N", text)


def check(name, text):
    path = HERE / name
    text = normalize(text)
    if os.environ.get("KMODEL_UPDATE_TRANSCRIPTS") == "1":
        path.write_text(text)
        return
    if not path.exists():
        raise AssertionError(f"missing stored transcript {path}; write it with "
                             "KMODEL_UPDATE_TRANSCRIPTS=1 and review it")
    want = path.read_text()
    assert text == want, (f"{name} differs from the stored transcript; if the change is "
                          f"intended, rerun with KMODEL_UPDATE_TRANSCRIPTS=1")
