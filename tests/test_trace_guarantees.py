"""What `kmodel trace record` promises about the user's files and its own stops
(docs/guarantees.md): every option is checked before anything is touched;
--force replaces only a kmodel trace, and only once the new one is whole; a
failed run leaves the old trace as it was; SIGINT and SIGTERM stop it between
two ticks with a whole trace and the table; the host's refusals (a full disk)
are exit 2 in the OS's words."""
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kmodel.cli.main import main
from kmodel.consumer.ctf import read_trace

ROOT = Path(__file__).resolve().parent.parent
BASE = ["--events", "40", "--rate", "20", "--subbuf-size", "4k", "--machine", "numa2"]


def record(d, *extra):
    return main(["trace", "record", str(d), *BASE, *extra])


def snapshot(d):
    """Every file under d with its bytes (what must not change)."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(Path(d).rglob("*"))
            if p.is_file()}


def hidden_left(parent):
    return [n for n in os.listdir(parent) if ".kmodel-" in n]


@pytest.fixture
def old_trace(tmp_path):
    d = tmp_path / "t"
    assert record(d) == 0
    return d, snapshot(d)


def bad_hotplug(tmp_path):
    p = tmp_path / "hp"
    p.write_text("3 storm cpus=1-3\n")
    return str(p)


def fifo(tmp_path):
    p = tmp_path / "fifo"
    os.mkfifo(p)
    return str(p)


BAD_OPTIONS = {
    "subbuf-size 3000": lambda t: ["--subbuf-size", "3000"],
    "subbuf-size 1k": lambda t: ["--subbuf-size", "1k"],
    "n-subbufs 3": lambda t: ["--n-subbufs", "3"],
    "unknown machine": lambda t: ["--machine", "no-such-machine"],
    "unknown backend": lambda t: ["--backend", "nope"],
    "events and duration": lambda t: ["--duration", "5"],
    "consumer-rate -1": lambda t: ["--consumer-rate", "-1"],
    "too much work": lambda t: ["--rate", "1000000", "--duration", "1000000",
                                "--events", None],
    "bad hotplug line": lambda t: ["--hotplug", bad_hotplug(t)],
    "hotplug from a FIFO": lambda t: ["--hotplug", fifo(t)],
    "hotplug from /dev/zero": lambda t: ["--hotplug", "/dev/zero"],
    "bad config": lambda t: ["--config", "CONFIG_NOPE=y"],
    "pmem without reserve_mem": lambda t: ["--backend", "pmem"],
    "pmem file not a region": lambda t: ["--backend", "pmem", "--cmdline",
                                         "reserve_mem=4M:4096:trace", "--pmem", "/etc/hostname"],
}


def argv_with(d, extra):
    argv = ["trace", "record", str(d), *BASE, "--force"]
    if None in extra:                       # drop an option of BASE: (name, None)
        name = extra[extra.index(None) - 1]
        i = argv.index(name)
        del argv[i:i + 2]
        extra = [x for x in extra if x is not None and x != name]
    return argv + extra


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_force_with_a_bad_option_leaves_the_old_trace_whole(old_trace, tmp_path, case, capsys):
    d, before = old_trace
    extra = BAD_OPTIONS[case](tmp_path)
    try:
        rc = main(argv_with(d, extra))
    except SystemExit as e:                 # refused by argparse, as the line is read
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and "kmodel: error:" in err and "Traceback" not in err, err
    assert snapshot(d) == before
    assert hidden_left(tmp_path) == []


def test_force_replaces_a_kmodel_trace_only_when_the_new_one_is_whole(old_trace, tmp_path):
    d, before = old_trace
    assert main(["trace", "record", str(d), *BASE, "--force", "--seed", "7"]) == 0
    after = snapshot(d)
    assert after != before and set(after) >= {"metadata", "channel0_0"}
    assert read_trace(str(d)) and hidden_left(tmp_path) == []


@pytest.mark.parametrize("intruder", ["notes.txt", "crash.img", "subdir/", "index/notes.txt"])
def test_force_refuses_a_directory_that_holds_more_than_a_trace(old_trace, intruder, capsys):
    d, _ = old_trace
    p = d / intruder.rstrip("/")
    if intruder.endswith("/"):
        p.mkdir()
    else:
        p.write_bytes(b"the user's own")
    before = snapshot(d)
    assert main(["trace", "record", str(d), *BASE, "--force"]) == 2
    assert "not part of a kmodel trace" in capsys.readouterr().err
    assert snapshot(d) == before and p.exists()


def test_force_refuses_a_directory_with_no_trace_even_the_current_one(tmp_path, capsys,
                                                                       monkeypatch):
    (tmp_path / "mine.txt").write_text("keep me")
    monkeypatch.chdir(tmp_path)
    assert main(["trace", "record", ".", *BASE, "--force"]) == 2
    assert "holds no metadata file: not a trace" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    assert hidden_left(tmp_path) == [] and hidden_left(tmp_path.parent) == []


def test_without_force_a_directory_that_holds_anything_is_refused(old_trace, capsys):
    d, before = old_trace
    assert record(d) == 2
    assert "give --force" in capsys.readouterr().err and snapshot(d) == before


def test_a_new_or_empty_directory_is_written(tmp_path):
    (tmp_path / "empty").mkdir()
    assert record(tmp_path / "empty") == 0 and record(tmp_path / "new" ) == 0
    assert read_trace(str(tmp_path / "empty")) and read_trace(str(tmp_path / "new"))


def _child(argv, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "kmodel", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_a_recording_between_ticks_with_a_whole_trace(tmp_path, sig, code):
    """A long recording gets the signal once its first ticks ran (its progress
    line on stderr says so): it stops at the next tick, flushes, drains,
    prints the table, leaves a trace every event of which is accounted for,
    and exits 128 + the signal."""
    d = tmp_path / "t"
    p = _child(["trace", "record", str(d), "--duration", "100000", "--rate", "4",
                "--subbuf-size", "4k", "--machine", "numa2"])
    seen = ""
    deadline = time.monotonic() + 60
    while "[tick" not in seen and time.monotonic() < deadline:
        seen += os.read(p.stderr.fileno(), 256).decode()
    try:
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == code, err
    assert f"stopped by {signal.Signals(sig).name}" in out
    assert "unaccounted" not in out and hidden_left(tmp_path) == []
    trace = read_trace(str(d))
    written = sum(int(line.split()[1]) for line in out.splitlines()[3:] if line.strip()[0].isdigit())
    read = sum(len(p.events) for ps in trace.values() for p in ps)
    lost = sum(int(line.split()[3]) for line in out.splitlines()[3:] if line.strip()[0].isdigit())
    assert written == read + lost > 0
    if shutil.which("babeltrace2"):
        r = subprocess.run(["babeltrace2", str(d)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


FULL_DISK_AFTER_BOOT = """
import resource, signal, sys
from kmodel.cli.main import main
from kmodel.kernel import Kernel
boot = Kernel.__init__
def booted(self, *a, **kw):     # the disk fills once the machine's memory is made
    boot(self, *a, **kw)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
Kernel.__init__ = booted
sys.exit(main(sys.argv[1:]))
"""


def test_a_full_disk_is_exit_2_in_the_os_words_and_the_old_trace_stays(old_trace, tmp_path):
    """The file size limit, set once the kernel has booted, stands for a full
    disk: the host refuses a write halfway through the recording."""
    d, before = old_trace
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-c", FULL_DISK_AFTER_BOOT, "trace", "record",
                          str(d), *BASE, "--force"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2, err
    assert "kmodel: error: trace record: File too large" in err and "Traceback" not in err
    assert snapshot(d) == before and hidden_left(tmp_path) == []


# --- a refused command in a --hotplug script: as in a shell script --------------------
def line_in_both(tmp_path, line, tick):
    """(the script and the hotplug script holding line, and the last line kmodel
    run says and its exit status)."""
    import io
    script, hot = tmp_path / "s.kms", tmp_path / "hot.txt"
    script.write_text(line + "\n")
    hot.write_text(f"{tick} {line}\n")
    out = io.StringIO()
    rc = main(["run", str(script), "--machine", "numa2"], out=out)
    return script, hot, out.getvalue().splitlines()[-1], rc


def test_a_hotplug_line_the_kernel_refuses_is_reported_as_a_scripts_and_goes_on(
        tmp_path, capsys):
    """Offlining CPU 0 is refused (EBUSY): kmodel run prints the shell's words
    and goes on; so does trace record, with FILE:LINE, and the trace is whole."""
    import io
    line = "echo 0 > /sys/devices/system/cpu/cpu0/online"
    script, hot, said, rc = line_in_both(tmp_path, line, 2)
    assert rc == 0 and said == "sh: echo: write error: Device or resource busy"
    out = io.StringIO()
    assert main(["trace", "record", str(tmp_path / "t"), *BASE, "--hotplug", str(hot)],
                out=out) == 0
    assert f"{hot}:1: {line}: {said}" in out.getvalue().splitlines()
    assert read_trace(str(tmp_path / "t"))


def test_a_hotplug_line_whose_path_is_not_there_stops_as_a_scripts_does(old_trace, tmp_path,
                                                                          capsys):
    """A path that is not there stops kmodel run (exit 2, FILE:LINE and the
    shell's words); it stops trace record the same way, and --force's old
    trace is left whole (nothing half-done replaces it)."""
    import io
    d, before = old_trace
    line = "echo 1 > /sys/devices/system/cpu/cpu9/online"
    script, hot, said, rc = line_in_both(tmp_path, line, 1)
    words = "echo: /sys/devices/system/cpu/cpu9/online: No such file or directory"
    assert rc == 2 and said == f"{script}:1: error: {words}"
    capsys.readouterr()
    rc = main(["trace", "record", str(d), *BASE, "--force", "--hotplug", str(hot)],
              out=io.StringIO())
    err = capsys.readouterr().err
    assert rc == 2 and f"kmodel: error: trace record: {hot}:1: {words} (the recording " \
        f"stopped at tick 1); nothing written to {d}\n" in err, err
    assert snapshot(d) == before and hidden_left(tmp_path) == []


@pytest.mark.parametrize("stopped", [False, True])
def test_a_stopped_recording_powers_off_without_closing_page_by_page(tmp_path, monkeypatch,
                                                                      stopped):
    """After a stop the trace is whole and the machine goes with the channel
    in it (ring_buffer_close gives a GiB back a page at a time: a second); a
    recording that ends closes its channel as before."""
    import kmodel.consumer.record as record_mod
    from kmodel.consumer.record import Recorder, RecordOptions
    from kmodel.relay.rb_config import Mode
    closed = []
    real = record_mod.ring_buffer_close
    monkeypatch.setattr(record_mod, "ring_buffer_close",
                        lambda *a: closed.append(a) or real(*a))
    ticks = [0]

    def stop():
        ticks[0] += 1
        return stopped and ticks[0] > 3
    o = RecordOptions(machine="numa2", events=None, duration=6, rate=20, layer="lockless",
                      mode=Mode("discard"), backend="pagelist", subbuf_size=4096,
                      n_subbufs=4, consumer_rate=None, hotplug=[], seed=0, consumer="splice",
                      cmdline="", pmem=None, pmem_format=False, config=())
    rec = Recorder(o, str(tmp_path))
    rec.stop = stop
    stats = rec.run()
    assert rec.ticks == (3 if stopped else 6) and rec.stopped == stopped
    assert len(closed) == (0 if stopped else 1)
    assert all(s.produced == s.read + s.lost for s in stats.values())
    assert read_trace(str(tmp_path))


def test_records_refused_before_reserving_are_counted_lost(tmp_path, capsys, monkeypatch):
    """A record a layer refuses before it reserves (events_lost: nested more
    than four deep, or the locked layer's NMI over its own CPU's lock) is
    written and lost: the table's lost counts it and a line says so, and the
    run is whole (written = read + lost).  trace record's own writes never
    nest, so a layer that refuses every fifth record of CPU 1 stands in."""
    from kmodel.relay.layer_lockless import LocklessLayer
    from kmodel.relay.ring_buffer import refuse_record
    write, seen = LocklessLayer.write__straight, []

    def refusing(self, rb, payload, event_id=0):
        if rb.cpu == 1:
            seen.append(1)
            if len(seen) % 5 == 0:
                return refuse_record.straight(rb)[0]
        return write(self, rb, payload, event_id)
    monkeypatch.setattr(LocklessLayer, "write__straight", refusing)
    assert record(tmp_path / "t") == 0
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["1"])
    written, read, lost = map(int, row[1:4])
    assert (written, lost) == (len(seen), len(seen) // 5) and written == read + lost
    assert f"cpu 1: {len(seen) // 5} records refused before reserving (events_lost" in out


def test_an_empty_path_is_refused_and_the_working_directory_kept(tmp_path, monkeypatch,
                                                                   capsys):
    """"" is no directory: os.path.abspath makes it the working directory,
    whose files a recording put in its place (and crash extract and export
    too)."""
    from kmodel.consumer.trace_dir import NewTrace, TraceDirError
    (tmp_path / "notes.txt").write_text("precious")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    assert main(["trace", "record", "", *BASE]) == 2
    assert "an empty path names no directory" in capsys.readouterr().err
    with pytest.raises(TraceDirError, match="an empty path"):
        NewTrace("", force=True)
    assert snapshot(tmp_path) == before and sorted(os.listdir(tmp_path)) == ["notes.txt", "sub"]


def test_a_directory_that_appears_during_the_run_is_not_replaced(tmp_path):
    """What is at DIR is checked again when the trace is put in place: a
    directory a user made there meanwhile is left alone, and the new trace is
    kept where it was written, the error says where."""
    from kmodel.consumer.trace_dir import NewTrace, TraceDirError
    d = tmp_path / "t"
    new = NewTrace(str(d), force=False)
    (Path(new.tmp) / "metadata").write_text("the new trace")
    d.mkdir()
    (d / "notes.txt").write_text("precious")
    with pytest.raises(TraceDirError, match=r"changed while the trace was written, which "
                                            r"is kept in .*\.t\.kmodel-"):
        new.commit()
    new.abort()
    assert (d / "notes.txt").read_text() == "precious" and os.listdir(d) == ["notes.txt"]
    assert (Path(new.tmp) / "metadata").read_text() == "the new trace"


def test_an_empty_directory_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path):
    """The trace takes an empty directory's place with its mode (a setgid
    bit, group write) and owner; a new directory is made as mkdir makes one,
    not 0700."""
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o2775)
    assert record(d) == 0
    assert stat_mode(d) == 0o2775 and (d / "metadata").exists()
    old = os.umask(0o027)
    try:
        assert record(tmp_path / "fresh") == 0
    finally:
        os.umask(old)
    assert stat_mode(tmp_path / "fresh") == 0o750


def stat_mode(p):
    import stat
    return stat.S_IMODE(os.stat(p).st_mode)


def test_a_snapshot_is_taken_at_its_tick_and_force_replaces_it(tmp_path, capsys):
    """--snapshot-at a tick the run allows is taken even when the events are
    all written before it (the run goes on, quiet, to that tick); --force
    replaces a trace holding its snapshot, but not one whose snapshot holds a
    file of the user's."""
    d = tmp_path / "t"
    args = ["--events", "50", "--rate", "16", "--mode", "overwrite", "--machine", "numa2"]
    assert main(["trace", "record", str(d), *args, "--snapshot-at", "3"]) == 0
    assert (d / "snapshot-3" / "metadata").exists()
    assert main(["trace", "record", str(d), *args, "--force"]) == 0
    assert not (d / "snapshot-3").exists()
    assert main(["trace", "record", str(d), *args, "--snapshot-at", "0", "--force"]) == 0
    (d / "snapshot-0" / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["trace", "record", str(d), *args, "--force"]) == 2
    assert "snapshot-0" in capsys.readouterr().err
    assert (d / "snapshot-0" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("extra,said", [
    (["--snapshot-at", "2"], "--snapshot-at TICK takes a recording in ticks"),
    (["--workload", "sched"], "--workload sched runs in ticks")])
def test_what_time_does_not_take_is_refused(tmp_path, capsys, extra, said):
    assert main(["trace", "record", str(tmp_path / "t"), "--time", "1ms", *extra]) == 2
    assert said in capsys.readouterr().err and not (tmp_path / "t").exists()


def test_a_geometry_the_machine_cannot_hold_is_a_usage_error(capsys):
    """--recommend with a budget the emulated machine's memory cannot hold:
    exit 2 naming the geometry and the errno's words (it was an internal
    error, -12)."""
    assert main(["trace", "sizing", "--jobs", "1", "--time", "1ms", "--recommend",
                 "--memory", "1G"]) == 2
    err = capsys.readouterr().err
    assert "bytes a CPU: the channel cannot be opened: Cannot allocate memory (-12)" in err
    with pytest.raises(SystemExit) as e:        # (argparse's refusal: the 1 GiB limit)
        main(["trace", "sizing", "--time", "1ms", "--recommend", "--memory", "2G"])
    assert e.value.code == 2 and "must be 4K..1G" in capsys.readouterr().err


def test_a_refused_pmem_run_leaves_no_region_file_it_made(tmp_path, capsys):
    """A --pmem file this run made, for a run the kernel refused (the region
    too small for the channel), is not left behind; one the user had is."""
    pmem = tmp_path / "r.pmem"
    argv = ["trace", "record", str(tmp_path / "t"), "--events", "10", "--backend", "pmem",
            "--cmdline", "reserve_mem=4M:4096:trace", "--pmem", str(pmem)]
    assert main([*argv, "--subbuf-size", "1M", "--n-subbufs", "4"]) == 2
    assert "the region has 4096 KiB" in capsys.readouterr().err
    assert not pmem.exists() and not (tmp_path / "t").exists()
    assert main([*argv, "--subbuf-size", "4k"]) == 0
    kept = pmem.read_bytes()
    assert main([*argv[:2], str(tmp_path / "u"), *argv[3:], "--subbuf-size", "1M",
                 "--n-subbufs", "4"]) == 2
    assert pmem.read_bytes() == kept
