"""The kernel object and its boot (init/main.c:start_kernel, in miniature).

``boot()`` puts a kernel on a machine: it builds physical memory, the page,
slab and vmalloc allocators, the CPU masks, and the pseudo-files, and logs
what Linux logs.  Kernel APIs are attributes with their C names
(``k.alloc_pages_node``, ``k.kmalloc_node``, ``k.cpu_to_node``), so code written
against this kernel reads like the C it mirrors.  The double-underscore names
(``__free_pages``, ``__free_page``) are there too; call them from module-level
functions, where Python does not mangle them.
"""
import gc
import os
import weakref

from hw import PAGE_SHIFT
from hw.hostfile import HostFileError, check_regular_file
from hw.machine import Machine
from hw.mmu import MMU
from hw.timing import TimingModel
from hw.topology import DEFAULT_PRESET, MachineSpec, load_preset
from kmodel.core.bug import Bug
from kmodel.core.kconfig import Kconfig
from kmodel.core.printk import KERN_INFO, KERN_NOTICE, LogBuf
from kmodel.core.module import ModuleLoader
from kmodel.cpu import context
from kmodel.cpu.context import cpu_execs
from kmodel.cpu.cpumask import NR_CPUS, cpumask
from kmodel.cpu.hotplug import CpuHotplug
from kmodel.cpu.percpu import alloc_percpu, free_percpu, per_cpu_ptr
from kmodel.fs.fault_inject import register_fault_inject
from kmodel.fs.procfs import register_procfs
from kmodel.fs.sysfs_cpu import register_cpu_sysfs
from kmodel.fs.sysfs_node import register_node_sysfs
from kmodel.fs.vfs import PseudoFS
from kmodel.mm.page_alloc import PageAllocator
from kmodel.mm.reserve_mem import ReserveMemError, parse_reserve_mem, reserve_mem_place
from kmodel.mm.slab import SlabAllocator
from kmodel.relay.pmem_layout import HEADER_SIZE, foreign_region, free_header, region_magic
from kmodel.mm.vmalloc import Vmalloc

# The modules installed with this kernel (what /lib/modules holds): importing
# one installs it with the loader, which names none itself.
import kmodel.lib.cpu_notifier_error_inject  # noqa: E402,F401
import kmodel.relay.builtin  # noqa: E402,F401
import kmodel.relay.module  # noqa: E402,F401

UTS_RELEASE = "2.6.29-kmodel"


class BootError(ValueError):
    """A boot parameter that cannot be used; nothing was left allocated."""


def parse_cmdline(cmdline):
    """parse_cmdline - ({param: value} this kernel knows, [unknown words])."""
    known, unknown = {}, []
    for word in (cmdline or "").split():
        key, eq, value = word.partition("=")
        if key in ("reserve_mem", "maxcpus") and eq:
            known[key] = value
        else:
            unknown.append(word)
    return known, unknown


class Kernel:
    def __init__(self, spec, config=(), seed=0, maxcpus=None, machine=None, cmdline=""):
        """A kernel booted on spec's hardware: on machine (hw.machine) if given,
        which then outlives this kernel (a reboot boots another on it), else
        on a machine of its own.  cmdline holds boot parameters in the kernel's
        form: reserve_mem=SIZE:ALIGN:NAME and maxcpus=N."""
        params, self.unknown_params = parse_cmdline(cmdline)
        self.cmdline = cmdline or ""
        if "maxcpus" in params:
            try:
                maxcpus = int(params["maxcpus"])
            except ValueError:
                raise BootError(f"maxcpus={params['maxcpus']}: must be a whole number "
                                f">= 1") from None
        if machine is not None:
            spec = machine.spec
        self.spec = spec
        self.seed = seed
        self.config = Kconfig(config)
        if maxcpus is not None and (not isinstance(maxcpus, int) or maxcpus < 1):
            raise BootError(f"maxcpus={maxcpus}: must be a whole number >= 1")
        if self.config["CONFIG_NUMA"] == "n" and spec.nr_nodes > 1:
            raise BootError(f"CONFIG_NUMA=n: {spec.name} has {spec.nr_nodes} nodes; a kernel "
                            "without NUMA needs a machine with one (uma)")
        if max(spec.possible_cpus) >= NR_CPUS:
            raise BootError(f"{spec.name}: CPU {max(spec.possible_cpus)} is beyond "
                            f"NR_CPUS ({NR_CPUS})")
        self.log = LogBuf(1 << self.config["CONFIG_LOG_BUF_SHIFT"])
        self.bug = Bug(self.log)
        if machine is not None and machine.running is not None:
            raise BootError(f"{spec.name}: a kernel runs on this machine already (boot "
                            f"{machine.boots}); shut it down before booting another")
        self.own_machine = machine is None
        if machine is None:
            machine = make_machine(spec)
        self.machine = machine
        self.physmem = machine.physmem
        self.mmu = None
        self.at_shutdown = []           # what modules undo before the memory goes
        self.down = False               # shut down: its objects raise KernelGone
        self._boot_token = machine.running = object()
        try:
            self.reserved_mem = self._reserve_mem(params.get("reserve_mem"))
            machine.boots += 1
            self.mmu = MMU(self.physmem)
            self.timing = TimingModel(spec)
            present = spec.present_cpus
            self.boot_cpu = present[0]
            self.cpu_possible_mask = cpumask(spec.possible_cpus)
            # each possible CPU's context stack; the boot CPU runs (kmodel.cpu.context)
            self.cpu_exec = cpu_execs(self.cpu_possible_mask)
            self.current = self.cpu_exec[self.boot_cpu].top
            self.trace_clock = 0        # the trace clock's last read (relay/ring_buffer.py)
            self.clock_read = self.timing.clock.read    # its source (hw.clock)
            self.cpu_present_mask = cpumask(present)
            self.cpu_online_mask = cpumask()
            self.cpu_node = dict(spec.cpu_node)
            self.page_alloc = PageAllocator(self)
            self.MAX_ORDER = self.page_alloc.MAX_ORDER  # CONFIG_FORCE_MAX_ZONEORDER
            self.slab = SlabAllocator(self, self.page_alloc)
            self.vm = Vmalloc(self, self.page_alloc, self.slab, self.timing)
            self.hotplug = CpuHotplug(self)
            self.modules = ModuleLoader(self)
            self.percpu_vars = {}
            self.suspend_count = 0
            self._bind_api()
            self.fs = PseudoFS()
            self._log_boot(maxcpus)
            up = present if maxcpus is None else present[:maxcpus]
            for cpu in up:
                self.cpu_online_mask.set_cpu(cpu, True)
            self.printk(KERN_INFO + f"Brought up {len(up)} CPUs")
            register_procfs(self)
            register_node_sysfs(self)
            register_cpu_sysfs(self)
            register_fault_inject(self)
            # What boot itself allocated is not a leak: leak reports start here.
            self.boot_pages = set(self.page_alloc.allocated)
            self.boot_objects = set(self.slab.live)
        except BaseException:
            self.shutdown()
            raise
        # A kernel dropped without shutdown() still gives back its memfds and
        # mappings, when the collector frees it (the finalizer holds no kernel).
        self._finalizer = weakref.finalize(self, _release, machine, self.own_machine,
                                           self._boot_token, self.mmu)
        _LIVE.add(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
        return False

    def _reserve_mem(self, param):
        """reserve_mem= (kmodel.mm.reserve_mem): the region, kept from the page
        allocator, backed by the machine's --pmem file if it has one."""
        path = self.machine.pmem_path
        if param is None:
            if path is not None:
                raise BootError(f"--pmem {path}: the kernel needs reserve_mem=SIZE:ALIGN:NAME "
                                f"on its command line to use it")
            return None
        try:
            r = reserve_mem_place(self.physmem, *parse_reserve_mem(param))
            if path is not None:
                first_taking = self.physmem.backing is None
                if first_taking:
                    _check_region_file(path, self.machine.pmem_format)
                self.physmem.back_with_file(path, r.start_pfn, r.nr_pages)
                if first_taking:
                    _mark_region_taken(self.physmem.backing.fd)
        except ReserveMemError as e:
            raise BootError(str(e)) from None
        except BootError:
            raise
        except ValueError as e:
            raise BootError(f"--pmem {path}: {e}") from None
        except OSError as e:
            raise BootError(f"--pmem {path}: {e.strerror}") from None
        return r

    def reserve_mem_find_by_name(self, name):
        """reserve_mem_find_by_name - the region reserved under name: (start, size), or None."""
        r = self.reserved_mem
        return (r.start, r.size) if r is not None and r.name == name else None

    def _bind_api(self):
        """The kernel's API under its C names, bound to the subsystem that
        implements each (one line a function, so that grep finds them)."""
        pa, sl, vm, hp = self.page_alloc, self.slab, self.vm, self.hotplug
        # mm/page_alloc.c
        self.alloc_pages_node = pa.alloc_pages_node
        self.alloc_pages = pa.alloc_pages
        self.alloc_page = pa.alloc_page
        self.pfn_to_page = pa.pfn_to_page
        # __free_pages and __free_page: set by name, as a double-underscore
        # attribute written here would be mangled (call them from module-level
        # functions, where Python does not mangle them)
        setattr(self, "__free_pages", pa.free_pages)
        setattr(self, "__free_page", pa.free_page)
        # mm/slab.c
        self.kmalloc = sl.kmalloc
        self.kmalloc_node = sl.kmalloc_node
        self.kzalloc = sl.kzalloc
        self.kzalloc_node = sl.kzalloc_node
        self.kfree = sl.kfree
        # mm/vmalloc.c
        self.vmap = vm.vmap
        self.vunmap = vm.vunmap
        self.vmalloc = vm.vmalloc
        self.vmalloc_node = vm.vmalloc_node
        self.vzalloc = vm.vzalloc
        self.vzalloc_node = vm.vzalloc_node
        self.vfree = vm.vfree
        self.vmalloc_to_page = vm.vmalloc_to_page
        self.vmalloc_sync_all = vm.vmalloc_sync_all
        # kernel/printk.c, include/asm-generic/bug.h
        self.printk = self.log.printk
        self.WARN_ON = self.bug.WARN_ON
        self.WARN = self.bug.WARN
        self.BUG = self.bug.BUG
        # kernel/cpu.c
        self.cpu_up = hp.cpu_up
        self.cpu_down = hp.cpu_down
        self.register_cpu_notifier = hp.register_cpu_notifier
        self.unregister_cpu_notifier = hp.unregister_cpu_notifier
        self.hotcpu_notifier = hp.hotcpu_notifier
        self.get_online_cpus = hp.get_online_cpus
        self.put_online_cpus = hp.put_online_cpus

    def _log_boot(self, maxcpus):
        spec = self.spec
        self.printk(KERN_NOTICE + f"Linux version {UTS_RELEASE} (kmodel) #1 SMP")
        self.printk(KERN_INFO + f"Machine: {spec.name}")
        line = self.cmdline or (f"maxcpus={maxcpus}" if maxcpus is not None else "")
        if line:
            self.printk(KERN_NOTICE + f"Kernel command line: {line}")
        if self.unknown_params:
            self.printk(KERN_NOTICE + "Unknown kernel command line parameters \"" +
                        " ".join(self.unknown_params) + "\", will be passed to user space.")
        r = self.reserved_mem
        if r is not None:
            how = f", backed by {self.machine.pmem_path}" if self.machine.pmem_path else ""
            self.printk(KERN_INFO + f"reserve_mem: {r.name}: {r.size >> 10}k at "
                        f"[mem {r.start:#018x}-{r.start + r.size - 1:#018x}]{how}")
        for node in self.physmem.nodes:
            self.printk(KERN_INFO + f"Initmem setup node {node.nid} "
                        f"{node.start_pfn << PAGE_SHIFT:016x}-{node.end_pfn << PAGE_SHIFT:016x}")
        total = self.physmem.max_pfn
        self.printk(KERN_INFO + f"Built {spec.nr_nodes} zonelists in Zone order, mobility "
                    f"grouping off.  Total pages: {total}")
        self.printk(KERN_INFO + f"Memory: {total << (PAGE_SHIFT - 10)}k/"
                    f"{total << (PAGE_SHIFT - 10)}k available")
        hot = len(spec.possible_cpus) - len(spec.present_cpus)
        self.printk(KERN_INFO + f"SMP: Allowing {len(spec.possible_cpus)} CPUs, "
                    f"{hot} hotplug CPUs")

    # --- small kernel APIs --------------------------------------------------
    def cpu_to_node(self, cpu):
        """cpu_to_node - the node of a possible CPU."""
        return self.cpu_node[cpu]

    def node_present_pages(self, nid):
        """node_present_pages - the pages node nid has (NODE_DATA(nid)->node_present_pages)."""
        return self.page_alloc.zones[nid].present_pages

    def cpu_online(self, cpu):
        return cpu in self.cpu_online_mask

    def num_online_cpus(self):
        return len(self.cpu_online_mask)

    def for_each_online_cpu(self):
        """for_each_online_cpu - the online CPUs, in order (a snapshot)."""
        return iter(list(self.cpu_online_mask))

    def for_each_possible_cpu(self):
        return iter(self.cpu_possible_mask)

    def for_each_present_cpu(self):
        return iter(list(self.cpu_present_mask))

    def alloc_percpu(self, cls, name=None):
        return alloc_percpu(self, cls, name)

    def free_percpu(self, var):
        free_percpu(self, var)

    per_cpu_ptr = staticmethod(per_cpu_ptr)

    def leaks(self):
        """leaks - what was allocated since boot and is still live, by caller.

        {caller: (pages, objects, bytes)}: page blocks count their pages
        (slab pages are the slab's, not counted), slab objects their bytes.
        """
        from kmodel.mm.page_alloc import caller_name
        out = {}
        slab_pfns = {so.slab.page.pfn for so in self.slab.live.values()}
        for pfn, a in self.page_alloc.allocated.items():
            if pfn in self.boot_pages or pfn in slab_pfns:
                continue
            pages, objs, nbytes = out.get(caller_name(a.caller), (0, 0, 0))
            out[caller_name(a.caller)] = (pages + (1 << a.order), objs, nbytes)
        for key, so in self.slab.live.items():
            if key in self.boot_objects:
                continue
            pages, objs, nbytes = out.get(caller_name(so.caller), (0, 0, 0))
            out[caller_name(so.caller)] = (pages, objs + 1, nbytes + so.size)
        return out

    def smp_processor_id(self):
        return self.current.cpu

    def numa_node_id(self):
        """numa_node_id - the current CPU's node."""
        return self.cpu_node[self.current.cpu]

    def current_comm(self):
        return self.current.comm

    # --- execution contexts (kmodel.cpu.context) -------------------------------
    def set_cpu(self, cpu):
        """set_cpu - make cpu the running CPU (k.current: its top context)."""
        context.set_cpu(self, cpu)

    def on_cpu(self, cpu):
        """on_cpu - a with-block that runs on cpu, then returns to the CPU before."""
        return context.on_cpu(self, cpu)

    def in_interrupt(self):
        return context.in_interrupt(self)

    def in_irq(self):
        return context.in_irq(self)

    def in_softirq(self):
        return context.in_softirq(self)

    def in_nmi(self):
        return context.in_nmi(self)

    def irqs_disabled(self):
        return context.irqs_disabled(self)

    def preempt_count(self):
        return context.preempt_count(self)

    def shutdown(self):
        """shutdown - what the modules hold is made unusable (a channel used
        after this raises KernelGone), then the host resources go (mappings,
        memfds); the machine is free for the next kernel.  Again is a no-op."""
        self.down = True
        hooks, self.at_shutdown = self.at_shutdown, []
        for fn in hooks:
            fn()
        fin = getattr(self, "_finalizer", None)
        if fin is not None:
            fin()
            return
        _release(self.machine, self.own_machine, self._boot_token, self.mmu)


_LIVE = weakref.WeakSet()               # kernels not yet collected
_COLLECT_AT = 16                        # this many live: collect the dropped ones first


def _release(machine, own, token, mmu):
    """The host resources of a kernel: its MMU's mappings, and its machine
    when it had one of its own (a shared machine outlives it, free for the
    next kernel)."""
    if mmu is not None:
        mmu.close()
    if machine.running is token:
        machine.running = None
    if own:
        machine.close()


def _check_region_file(path, pmem_format=False):
    """A --pmem file is new (no file, or an empty one) or a region kmodel made
    (its magic), or the boot refuses it before writing a byte (pmem_format,
    --pmem-format, lets any regular file be taken).  A FIFO, a device or a
    directory is refused without being opened; a symbolic link to nothing is
    refused (the file would be made wherever it points)."""
    if not os.path.exists(path):
        if os.path.islink(path):
            raise BootError(f"--pmem {path}: a symbolic link to {os.readlink(path)!r}, which "
                            "does not exist: kmodel makes no file through a link")
        return
    try:
        check_regular_file(path, 1 << 62, "region file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            first = os.pread(fd, HEADER_SIZE, 0)
        finally:
            os.close(fd)
    except HostFileError as e:
        raise BootError(f"--pmem {e}") from None
    except OSError as e:
        raise BootError(f"--pmem {path}: {e.strerror}") from None
    why = foreign_region(first)
    if why and not pmem_format:
        raise BootError(f"--pmem {path}: not a region kmodel made: {why}; nothing was "
                        f"written (--pmem-format lets kmodel take the file and overwrite it)")


def _mark_region_taken(fd):
    """A file taken for a region (new, or given with --pmem-format) says so at
    once: a free region's header (pmem_layout.free_header), unless it already
    begins with a region's magic."""
    if region_magic(os.pread(fd, 8, 0)) is None:
        os.pwrite(fd, free_header(), 0)


def make_machine(machine=DEFAULT_PRESET, pmem_path=None, pmem_format=False):
    """make_machine - the hardware of a preset name, a machine file or a
    MachineSpec (hw.machine.Machine), with pmem_path the host file behind a
    reserved region (pmem_format: it may be one kmodel did not make); a
    BootError if this host cannot map its memory."""
    spec = machine if isinstance(machine, MachineSpec) else load_preset(machine)
    try:
        return Machine(spec, pmem_path, pmem_format)
    except OSError as e:
        raise BootError(f"{spec.name}: {spec.total_memory >> 20} MiB of emulated memory "
                        f"cannot be mapped on this host ({e.strerror})") from None


def boot(machine=DEFAULT_PRESET, config=(), seed=0, maxcpus=None, cmdline=""):
    """boot - a Kernel on a machine (a preset name, a machine file, a
    MachineSpec, or a hw.machine.Machine that outlives it).  Use it in a
    with-block, or call shutdown(); a kernel that is only dropped is released
    when the collector frees it."""
    if len(_LIVE) >= _COLLECT_AT:
        gc.collect()                    # kernels dropped in cycles: finalize them now
    if isinstance(machine, Machine):
        return Kernel(machine.spec, config=config, seed=seed, maxcpus=maxcpus,
                      machine=machine, cmdline=cmdline)
    spec = machine if isinstance(machine, MachineSpec) else load_preset(machine)
    return Kernel(spec, config=config, seed=seed, maxcpus=maxcpus, cmdline=cmdline)
