"""docs/tour.md (and docs/concurrency.md) as tests: every `$ kmodel ...` line in a
```console block is run, and its output must be the lines that follow it in the
block.  A command expected to exit non-zero says so at the end of its line,
`$ kmodel ...   # exit 1`; any other exit status fails.

KMODEL_UPDATE_TRANSCRIPTS=1 rewrites the blocks with the real outputs.

The pages name files under /tmp (a trace directory, a crash region).  The
tests run each such command with /tmp/ replaced by a directory of their own,
made afresh for each test run and removed after it, and put /tmp/ back in
the output: two runs at once never share a file, and nothing a user keeps in
/tmp is touched."""
import atexit
import io
import re
import shlex
import shutil
import tempfile
from pathlib import Path

from transcript import normalize

DOCS = Path(__file__).parent.parent / "docs"
TOUR = DOCS / "tour.md"
PRIVATE_TMP = tempfile.mkdtemp(prefix="kmodel-docs-")
atexit.register(shutil.rmtree, PRIVATE_TMP, True)


def fresh_tmp():
    """Empty the pages' private /tmp (after a regeneration ran the pages once)."""
    for p in Path(PRIVATE_TMP).iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()


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
    m = re.search(r"\s+# exit (\d+)$", cmd)
    want_rc = int(m.group(1)) if m else 0
    argv = [a.replace("/tmp/", PRIVATE_TMP + "/")
            for a in shlex.split(cmd[:m.start()] if m else cmd)]
    assert argv[0] == "kmodel", f"the docs run only kmodel commands: {cmd}"
    out = io.StringIO()
    rc = main(argv[1:], out=out)
    assert rc == want_rc, f"{cmd} exited {rc}"
    return normalize(out.getvalue().replace(PRIVATE_TMP + "/", "/tmp/"))


def regenerate(doc=TOUR):
    text = doc.read_text()
    lines = text.split("\n")
    made = []                           # run in page order: a command may need an earlier one
    for start, end, cmds in blocks(text):
        new = []
        for cmd, _ in cmds:
            new.append(f"$ {cmd}")
            out = run_command(cmd)
            if out:
                new.extend(out.rstrip("\n").split("\n"))
        made.append((start, end, new))
    for start, end, new in reversed(made):  # then replace from the end, so indexes hold
        lines[start + 1:end] = new
    doc.write_text("\n".join(lines))
