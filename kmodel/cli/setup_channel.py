"""A kernel with one open channel, for the teaching commands (draw, explain, quiz).

Options shared by those commands: machine, sizes, backend, placement, and
accesses to make first (to move the cache pointers).
"""
from hw.topology import DEFAULT_PRESET
from hw.units import parse_size
from kmodel.cli.bounds import CPU, Access, IntIn, SizeIn, check_count
from kmodel.cli.errors import UsageError
from kmodel.kernel import boot
from kmodel.mm.vmalloc import VM_IOREMAP, VMALLOC_END, VMALLOC_START
from kmodel.relay.backend import backend_names
from kmodel.perf.workloads import payload
from kmodel.relay.relay_alloc import DEFAULT_BACKEND, PLACEMENTS
from kmodel.relay.relay_file import ltt_relay_open_debugfs


# The options that shape the channel draw/explain open themselves; a script
# that opens its own channel (draw --script) sets them in its relay open line.
CHANNEL_SHAPE = ("subbuf_size", "n_subbufs", "backend", "placement")

# Buffers are real host memory (__GFP_ZERO touches every page), and each page
# is a Python object: past this, a command would take minutes and gigabytes.
HOST_LIMIT = 1 << 30

# --vmalloc-used: at most what leaves room for the buffers
VMALLOC_SPACE = (VMALLOC_END + 1 - VMALLOC_START) // 2

# The accesses a command makes first (--access, --before): each at most the
# emulator's limit, and at most this many (one line of output each).
MAX_ACCESSES = 64
ACCESS = Access(HOST_LIMIT)


def add_channel_options(p, subbuf="4k", n_subbufs=4):
    """The channel options, with no defaults (None, filled in by
    channel_defaults) so that a command can tell which ones were given."""
    p.add_argument("--machine", "-m", metavar="PRESET", help=f"default {DEFAULT_PRESET}")
    p.add_argument("--subbuf-size", type=SizeIn(1, HOST_LIMIT), metavar="SIZE",
                   help=f"default {subbuf}")
    p.add_argument("--n-subbufs", type=IntIn(1, 1 << 16), metavar="N",
                   help=f"default {n_subbufs}")
    p.add_argument("--backend", choices=backend_names(), help=f"default {DEFAULT_BACKEND}")
    p.add_argument("--placement", choices=PLACEMENTS, help="default local")
    p.set_defaults(channel_defaults=dict(machine=DEFAULT_PRESET, subbuf_size=parse_size(subbuf),
                                         n_subbufs=n_subbufs, backend=DEFAULT_BACKEND,
                                         placement="local"))
    p.add_argument("--cpu", type=CPU, default=0, help="the CPU whose buffer is used")
    p.add_argument("--config", action="append", metavar="CONFIG_X=y")
    p.add_argument("--vmalloc-used", type=SizeIn(0, VMALLOC_SPACE), default=0,
                   metavar="SIZE", help="vmalloc space in use before the channel opens "
                   "(an extension: reserved as an ioremap() of a device window is); 512g "
                   "puts vmap buffers in the second 512 GiB page-table slot")


def add_access_option(p, flag, help):
    """add_access_option - a repeatable [r]OFFSET:LEN option (--access, --before)."""
    p.add_argument(flag, action="append", type=ACCESS, metavar="[r]OFFSET:LEN", help=help)


def check_accesses(accesses, option):
    """check_accesses - at most MAX_ACCESSES of them, of HOST_LIMIT bytes in
    all (before anything boots)."""
    check_count(accesses, option, MAX_ACCESSES)
    total = sum(length for _, _, length in accesses or ())
    if total > HOST_LIMIT:
        raise UsageError(f"{option}: {total:,} bytes in all: at most {HOST_LIMIT >> 20} MiB "
                         f"(this emulator's limit for one command)")


def check_access(chan, offset, length):
    """check_access - refuse an access that runs past the end of the buffer
    (offset masked, as the relay masks it): the layer above never asks that,
    and the relay would oops (a UsageError, the same for every command)."""
    masked = offset & (chan.alloc_size - 1)
    if length < 1 or masked + length > chan.alloc_size:
        raise UsageError(f"{length} bytes at offset {masked} run past the end of the "
                         f"{chan.alloc_size}-byte buffer (the layer above never asks that)")
    return masked


def check_host_size(alloc_size, ncpus, held=0):
    """check_host_size - refuse buffers too big for the emulator (a UsageError):
    alloc_size on each of ncpus CPUs, on top of held bytes of channels open."""
    total = alloc_size * ncpus
    if total + held > HOST_LIMIT:
        also = f", with {held >> 20} MiB of channels already open," if held else ""
        raise UsageError(f"{ncpus} CPUs x {alloc_size >> 10} KiB = {total >> 20} MiB of "
                         f"buffers{also}: more than this emulator allocates "
                         f"({HOST_LIMIT >> 20} MiB in all; its pages are real host memory)")


def channel_defaults(args):
    """Fill in the channel options that were not given."""
    for key, value in args.channel_defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def open_channel(args, name="chan"):
    """Boot, load the relay, open one channel; returns (k, chan, buf)."""
    channel_defaults(args)
    subbuf = args.subbuf_size
    if 0 < subbuf * args.n_subbufs < 1 << 64:
        from hw.topology import load_preset
        check_host_size(subbuf * args.n_subbufs, len(load_preset(args.machine).present_cpus))
    k = boot(args.machine, config=args.config or ())
    try:
        k.modules.insmod("ltt_relay_alloc")
        if args.vmalloc_used:
            k.vm.get_vm_area(args.vmalloc_used, VM_IOREMAP, open_channel.__code__)
        chan, err = ltt_relay_open_debugfs(k, name, subbuf, args.n_subbufs, args.backend,
                                           args.placement)
        if chan is None:
            why = [t for t in k.log.lines() if "ltt_relay" in t or "failure" in t]
            raise UsageError(why[-1] if why else f"ltt_relay_open failed ({err})")
        if not 0 <= args.cpu < len(chan.buf) or chan.buf[args.cpu] is None:
            raise UsageError(f"--cpu {args.cpu}: no buffer (online CPUs: "
                             f"{k.cpu_online_mask.cpulist()})")
        k.set_cpu(args.cpu)
        return k, chan, chan.buf[args.cpu]
    except BaseException:
        k.shutdown()
        raise


def do_access(buf, is_write, offset, length):
    """do_access - one write (of made-up bytes) or read, checked first
    (check_access)."""
    from kmodel.relay.relay_alloc import ltt_relay_read, ltt_relay_write
    check_access(buf.chan, offset, length)
    if is_write:
        ltt_relay_write(buf, offset, payload(length), length)
    else:
        ltt_relay_read(buf, offset, bytearray(length), length)
