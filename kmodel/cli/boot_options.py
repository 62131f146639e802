"""The options of the kernel that ``kmodel shell`` and ``kmodel run`` boot.

Machine, config, seed, the kernel command line and the pmem file: one helper,
so that the two commands take them alike.  (A script's ``#!kmodel`` line takes
most of them too: kmodel.cli.run.parse_header.)
"""
from kmodel.cli.bounds import SEED


def add_boot_options(p):
    """add_boot_options - add --machine, --config, --seed, --cmdline and --pmem
    to p, a command's parser; none has a default (None: the script's #!kmodel
    line, or the shell's own default, decides)."""
    p.add_argument("--machine", "-m", metavar="PRESET")
    p.add_argument("--config", action="append", metavar="CONFIG_X=y")
    p.add_argument("--seed", type=SEED)
    p.add_argument("--cmdline", metavar="PARAMS",
                   help="kernel command line, e.g. 'reserve_mem=4M:4096:trace'")
    p.add_argument("--pmem", metavar="FILE",
                   help="a host file behind the reserve_mem region: it outlives the "
                        "emulator (kill -9 is a crash; the next run is the next boot)")
    add_pmem_format_option(p)


def add_pmem_format_option(p):
    """add_pmem_format_option - --pmem-format, for every command that takes --pmem."""
    p.add_argument("--pmem-format", action="store_true",
                   help="let --pmem take a file that is not a region kmodel made "
                        "(its contents are overwritten)")
