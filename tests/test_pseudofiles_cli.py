import subprocess
import sys

import pytest

from kmodel.cli.main import main
from kmodel.fs.vfs import FsError


def test_proc_and_sys_formats(k):
    bi = k.fs.read("/proc/buddyinfo").splitlines()
    assert bi[0] == "Node 0, zone   Normal " + "     0 " * 10 + "    16 "
    mi = k.fs.read("/proc/meminfo")
    assert "MemTotal:         131072 kB\n" in mi and "MemFree:          131072 kB\n" in mi
    assert k.fs.read("/sys/devices/system/node/online") == "0-1\n"
    assert k.fs.read("/sys/devices/system/node/node1/distance") == "21 10\n"
    assert k.fs.read("/sys/devices/system/node/node0/meminfo").startswith(
        "Node 0 MemTotal:          65536 kB\n")
    assert k.fs.read("/sys/devices/system/cpu/possible") == "0-9\n"
    assert k.fs.read("/sys/devices/system/cpu/present") == "0-7\n"
    assert k.fs.read("/sys/devices/system/cpu/online") == "0-7\n"
    assert k.fs.read("/sys/devices/system/cpu/offline") == "8-9\n"


def test_maxcpus_leaves_cpus_offline(kernel_factory):
    k = kernel_factory("numa2", maxcpus=3)
    assert k.fs.read("/sys/devices/system/cpu/online") == "0-2\n"
    assert "Kernel command line: maxcpus=3" in k.log.text()


def test_missing_and_readonly_paths(k):
    with pytest.raises(FsError, match="No such file or directory"):
        k.fs.read("/proc/nope")
    with pytest.raises(FsError, match="Permission denied"):
        k.fs.write("/proc/buddyinfo", "1")
    with pytest.raises(FsError, match="Is a directory"):
        k.fs.read("/proc")


def run_cli(*argv):
    import io
    out = io.StringIO()
    rc = main(list(argv), out=out)
    return rc, out.getvalue()


def test_machine_show_is_numactl_hardware():
    rc, out = run_cli("machine", "show", "numa2")
    assert rc == 0
    assert out.startswith("available: 2 nodes (0-1)\nnode 0 cpus: 0 1 2 3\n"
                          "node 0 size: 64 MB\nnode 0 free: 64 MB\n")
    assert "node distances:\nnode   0   1 \n  0:  10  21 \n  1:  21  10 \n" in out


def test_machines_lists_presets():
    rc, out = run_cli("machines")
    assert rc == 0 and "big-16n" in out and "1T" in out


def test_cat_reads_a_fresh_kernel():
    rc, out = run_cli("cat", "/sys/devices/system/node/node3/distance",
                      "--machine", "epyc-rome-nps4")
    assert rc == 0 and out == "12 12 12 10 32 32 32 32\n"


@pytest.mark.parametrize("argv, words", [
    (["machine", "show", "bogus"], "unknown machine preset 'bogus'"),
    (["cat", "/proc/nope"], "/proc/nope: No such file or directory"),
    (["cat", "/proc/meminfo", "--config", "CONFIG_NOPE=y"], "unknown option CONFIG_NOPE"),
])
def test_user_errors_are_one_line_no_traceback(argv, words):
    r = subprocess.run([sys.executable, "-m", "kmodel", *argv], capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kmodel: error: ")
    assert words in lines[0]
