"""kmodel cat PATH: a pseudo-file of a freshly booted kernel."""
from kmodel.kernel import boot


def cmd_cat(args, out):
    k = boot(args.machine, config=args.config or ())
    try:
        out.write(k.fs.read(args.path))
    finally:
        k.shutdown()
    return 0
