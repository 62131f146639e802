"""hw/hostfile.py: a file a user names is checked before it is read."""
import os

import pytest

from hw.hostfile import HostFileError, read_regular_file


def test_a_regular_file_within_its_limit_is_read(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"x" * 3000)
    assert read_regular_file(str(p), 3000) == b"x" * 3000


def test_a_file_over_its_limit_is_refused_before_reading(tmp_path):
    p = tmp_path / "big"
    with open(p, "wb") as f:
        f.truncate(2 << 30)                 # 2 GiB, sparse: reading it would cost 2 GiB
    with pytest.raises(HostFileError, match="2,147,483,648 bytes; a region has at most"):
        read_regular_file(str(p), 1 << 20, "region")


@pytest.mark.parametrize("path, kind", [("/dev/zero", "a character device"),
                                        ("/", "a directory")])
def test_special_files_are_refused(path, kind):
    with pytest.raises(HostFileError, match=kind):
        read_regular_file(path, 1 << 20)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    p = tmp_path / "fifo"
    os.mkfifo(p)
    with pytest.raises(HostFileError, match="a FIFO"):
        read_regular_file(str(p), 1 << 20, "script")


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(HostFileError, match="No such file"):
        read_regular_file(str(tmp_path / "nope"), 10)
