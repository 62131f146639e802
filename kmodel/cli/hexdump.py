"""hexdump -C, for the shell: `relay read`, and `cat` of a binary file."""


def hexdump(data):
    """hexdump -C of data, with '*' for runs of identical lines."""
    out = []
    prev = None
    starred = False
    for off in range(0, len(data), 16):
        chunk = bytes(data[off:off + 16])
        if chunk == prev:
            if not starred:
                out.append("*")
                starred = True
            continue
        prev, starred = chunk, False
        hexs = " ".join(f"{b:02x}" for b in chunk[:8]) + "  " + \
            " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        out.append(f"{off:08x}  {hexs:<48}  |{text}|")
    out.append(f"{len(data):08x}")
    return "\n".join(out) + "\n"
