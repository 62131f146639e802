"""Helpers for the pmem tests: a region file with a trace in it."""
import zlib

from hw.machine import Machine
from hw.topology import load_preset
from kmodel.consumer.ctf import BY_ID, encode
from kmodel.cpu.sched import run_now
from kmodel.kernel import boot
from kmodel.relay.layer_channel import ring_buffer_open

CMDLINE = "reserve_mem=4M:4096:trace"


def blob(i):
    data = bytes((i * 13 + j) & 0xff for j in range(i % 37))
    return encode(BY_ID[3], {"seq": i, "len": len(data), "crc": zlib.crc32(data), "data": data})


def record(path, cpus=(0, 5), events=400, mode="overwrite", n_subbufs=4, flush=True,
           scope="per-cpu", consume=0, layer="lockless", era=None, header="kmodel", config=()):
    """A region file with a trace in it: events per CPU, the last packet of
    each left open unless flush, then consume packets taken and given back by
    a reader of each buffer; era: the channel's (None: the default, 2.x);
    header: the records' header format (kmodel's, or LTTng's compact or large);
    config: CONFIG_X=y options to boot with; returns {(cpu, payload)} of what was written."""
    written = set()
    with Machine(load_preset("numa2"), pmem_path=str(path)) as m:
        k = boot(m, config=config, cmdline=CMDLINE)
        try:
            k.modules.insmod("ltt_relay_alloc")
            rbc, err = ring_buffer_open(k, "t", 4096, n_subbufs, "pmem", "local", layer,
                                        mode, scope, era=era, header=header)
            assert rbc is not None, err
            for cpu in cpus:
                with k.on_cpu(cpu):
                    rb = rbc.buf_for(cpu)
                    for i in range(events):
                        if run_now(k, rbc.layer.write(rb, blob(i), event_id=3)) >= 0:
                            written.add((cpu, blob(i)))
                    if flush and cpu == cpus[0]:
                        run_now(k, rbc.layer.flush(rb))
            for _, rb in rbc.buffers():
                for _ in range(consume):
                    pos = run_now(k, rbc.get_subbuf(rb))
                    if pos >= 0:
                        run_now(k, rbc.put_subbuf(rb, pos))
        finally:
            k.shutdown()
    return written


