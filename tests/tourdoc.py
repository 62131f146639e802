"""docs/tour.md as a test: every `$ kmodel ...` line in a ```console block is run,
and its output must be the lines that follow it in the block.

KMODEL_UPDATE_TRANSCRIPTS=1 rewrites the blocks with the real outputs."""
import io
import shlex
from pathlib import Path

from transcript import normalize

TOUR = Path(__file__).parent.parent / "docs" / "tour.md"


def blocks(text):
    """[(start line index, end line index, [(command, expected output)])]"""
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```console":
            j = i + 1
            cmds = []
            while lines[j].strip() != "```":
                if lines[j].startswith("$ kmodel "):      # transcripts have '$ ' lines too
                    cmds.append([lines[j][2:], []])
                elif cmds:
                    cmds[-1][1].append(lines[j])
                j += 1
            out.append((i, j, [(c, "\n".join(o) + "\n" if o else "") for c, o in cmds]))
            i = j
        i += 1
    return out


def run_command(cmd):
    from kmodel.cli.main import main
    argv = shlex.split(cmd)
    assert argv[0] == "kmodel", f"the tour runs only kmodel commands: {cmd}"
    out = io.StringIO()
    rc = main(argv[1:], out=out)
    assert rc == 0, f"{cmd} exited {rc}"
    return normalize(out.getvalue())


def regenerate():
    text = TOUR.read_text()
    lines = text.split("\n")
    for start, end, cmds in reversed(blocks(text)):
        new = []
        for cmd, _ in cmds:
            new.append(f"$ {cmd}")
            new.extend(run_command(cmd).rstrip("\n").split("\n"))
        lines[start + 1:end] = new
    TOUR.write_text("\n".join(lines))
