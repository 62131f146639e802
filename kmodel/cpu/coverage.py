"""Which yield points a search reached: the explorer's coverage report.

A *yield point* is a line of Python source where a context can stand between
two steps: a ``yield`` or a ``yield from`` inside a function.  The set of
them in some source files (the locking layers, the atomics) is read once from
the files' syntax trees; a search then counts, after every step, the points
of the context that stepped: its generator and every generator it delegates
to (``gi_yieldfrom``), each frame's code file and line.  That costs a walk of
one call chain per step, and only when a Coverage is given to the explorer.

A *window* is a pair of points: a step that one context runs at one point
while another context stands at the other.  ``Coverage.between(wait, step)``
counts the runs that reached it: for example, the reader taking a
sub-buffer (``step``) while a writer stands between its read of ``consumed``
and its cmpxchg on it (``wait``).  A context's *site*, for windows, is the
innermost frame of its chain in the watched files that is not in a
primitive (an atomic, a lock): the line of the algorithm that called it.
"""
import ast
import inspect
import os
from collections import Counter
from dataclasses import dataclass

from kmodel.cpu.context import chain_frames


@dataclass(frozen=True)
class YieldPoint:
    """One place a context can stand between two steps."""
    file: str                   # the source file's path
    line: int
    function: str
    text: str                   # the source line, stripped

    @property
    def where(self):
        return f"{os.path.basename(self.file)}:{self.line}"


def _source_file(source):
    return os.path.abspath(getattr(source, "__file__", source))


def yield_points(source):
    """yield_points - every yield point of a module (or a source file's path),
    in line order: the line of each yield and yield from inside a function.
    (A yield from's line is its first line, the one a suspended frame reports.)"""
    path = _source_file(source)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines()
    found = {}

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
            elif isinstance(child, ast.Lambda):
                visit(child, func)
            else:
                if isinstance(child, (ast.Yield, ast.YieldFrom)) and func is not None:
                    found.setdefault(child.lineno, YieldPoint(
                        path, child.lineno, func, lines[child.lineno - 1].strip()))
                visit(child, func)

    visit(ast.parse(text, path), None)
    return [found[n] for n in sorted(found)]


def find_point(func, text):
    """find_point - (file, line) of the one yield point of func whose line
    contains text; ValueError if none or several do (so that a window named
    by its code fails loudly when the code changes)."""
    path = _source_file(inspect.getsourcefile(func))
    lines, start = inspect.getsourcelines(func)
    end = start + len(lines)
    hits = [p for p in yield_points(path)
            if start <= p.line < end and p.function == func.__name__ and text in p.text]
    if len(hits) != 1:
        raise ValueError(f"{func.__name__}: {len(hits)} yield points contain {text!r}")
    return hits[0].file, hits[0].line


@dataclass(frozen=True)
class Window:
    """A named window: a context steps at ``step`` while another stands at ``wait``."""
    title: str
    wait: tuple                 # (file, line)
    step: tuple


class Coverage:
    """The yield points of some source files, and which a search reached.

    sources: modules (or paths) whose yield points are counted; primitives:
    those among them that are primitives (atomics, locks), skipped when a
    context's site is chosen for windows."""

    def __init__(self, sources, primitives=()):
        self.points = {}
        for s in sources:
            for p in yield_points(s):
                self.points[(p.file, p.line)] = p
        self._keys = list(self.points)  # the points in the sources' order: a run's
        self._index = {k: i for i, k in enumerate(self._keys)}  # counts, by index
        self.files = {f for f, _ in self.points}
        self.primitive_files = {_source_file(s) for s in primitives}
        self.hits = Counter()           # (file, line) -> times a context stood there
        self.first = {}                 # (file, line) -> the run (from 1) that first did
        self.strays = Counter()         # lines of the files stood at that are no point
        self.windows = Counter()        # (wait site, step site) -> runs that reached it
        self.first_window = {}          # (wait site, step site) -> the first run that did
        self.runs = 0
        self._site = {}                 # entity id -> its site, in the current run
        self._pairs = set()

    # --- what the explorer calls ------------------------------------------------
    def start_run(self):
        self._site = {}
        self._pairs = set()

    def end_run(self):
        self.runs += 1
        for pair in self._pairs:
            if pair not in self.windows:
                self.first_window[pair] = self.runs
        self.windows.update(self._pairs)

    def stepped(self, e, live):
        """stepped - entity e took a step (kmodel.cpu.sched.Run): count the
        points it stands at now, and the windows of the step it ran."""
        before = self._site.get(e.eid)
        site = None
        if not e.done and e.ctx is not None:
            points, files, prims = self.points, self.files, self.primitive_files
            hits = self.hits
            inner = None
            for frame in chain_frames(e.ctx.gen):
                f = frame.f_code.co_filename
                if f in files:
                    key = (f, frame.f_lineno)
                    if key not in points:       # a line the syntax scan missed
                        self.strays[key] += 1
                        continue
                    if key not in hits:
                        self.first[key] = self.runs + 1
                    hits[key] += 1
                    inner = key
                    if f not in prims:
                        site = key
            site = site or inner
        self._site[e.eid] = site
        if before is not None:
            for other in live:
                if other is not e:
                    s = self._site.get(other.eid)
                    if s is not None:
                        self._pairs.add((s, before))

    # --- a search split over workers (kmodel.cli.explore_jobs) --------------------
    def take_run(self):
        """take_run - what the run that just ended counted, in a form that
        travels (the points by their index in the sources' order, the same in
        every process that builds this Coverage from the same sources; a
        stray line by its file's base name), for add_run in another process;
        the counts here are cleared, so that a worker's Coverage holds one
        run at a time."""
        idx = self._index
        run = (tuple((idx[k], n) for k, n in self.hits.items()),
               tuple(((os.path.basename(f), line), n) for (f, line), n in self.strays.items()),
               tuple(sorted((idx[a], idx[b]) for a, b in self.windows)))
        self.hits.clear()
        self.strays.clear()
        self.windows.clear()
        self.first.clear()
        self.first_window.clear()
        self.runs = 0
        return run

    def add_run(self, run):
        """add_run - count a run that another process counted (take_run's
        value) as if it had run here, after the runs counted so far: added in
        the search's order, a split search's counts, first runs and windows
        are those of the search in one process."""
        hits, strays, pairs = run
        keys, mine = self._keys, self.hits
        for i, n in hits:
            key = keys[i]
            if key not in mine:
                self.first[key] = self.runs + 1
            mine[key] += n
        for key, n in strays:
            self.strays[key] += n
        self._pairs = {(keys[a], keys[b]) for a, b in pairs}
        self.end_run()

    # --- what a user reads ---------------------------------------------------------
    def reached(self):
        """The yield points reached, in file and line order."""
        return [p for key, p in sorted(self.points.items()) if self.hits[key]]

    def missed(self):
        return [p for key, p in sorted(self.points.items()) if not self.hits[key]]

    def between(self, wait, step):
        """between - how many runs had a context step at ``step`` while another
        stood at ``wait`` (each a (file, line))."""
        return self.windows[(wait, step)]

    def function_points(self, name, file=None):
        """The yield points of the function name (in file, if given)."""
        return [p for p in self.points.values() if p.function == name and
                (file is None or p.file == _source_file(file))]

    def report(self, windows=()):
        """report - the lines of the coverage report: for each file, its
        functions with their points reached out of all (and, under a function
        that reached some, the points it did not), the functions that reached
        none on one line; then each window with the runs that reached it."""
        out = [f"coverage of {self.runs:,} runs: {len(self.reached())} of "
               f"{len(self.points)} yield points reached"]
        by_file = {}                    # in the order of the sources, then of lines
        for p in self.points.values():
            by_file.setdefault(os.path.basename(p.file), {}).setdefault(
                p.function, []).append(p)
        for base, funcs in by_file.items():
            n_file = sum(1 for pts in funcs.values() for p in pts if self._hit(p))
            out.append(f"{base}: {n_file} of {sum(map(len, funcs.values()))}")
            none = []
            for func, pts in funcs.items():
                n = sum(1 for p in pts if self._hit(p))
                if not n:
                    none.append(func)
                    continue
                out.append(f"  {func:<32} {n:>2} of {len(pts)}")
                out += [f"      not reached: {p.where}  {p.text}" for p in pts
                        if not self._hit(p)]
            if none:
                out += _wrap("  none reached in: ", none)
        for w in windows:
            n = self.between(w.wait, w.step)
            out.append(f"window: {w.title}: " + (
                f"reached in {n:,} run{'s' if n > 1 else ''}" if n else "NOT reached"))
        return out

    def _hit(self, p):
        return self.hits[(p.file, p.line)] > 0


def _wrap(head, names, width=88):
    """head then names, comma-separated, on lines of at most width characters."""
    lines, cur = [], head
    for i, name in enumerate(names):
        word = name + ("," if i < len(names) - 1 else "")
        if len(cur) + len(word) + 1 > width and cur.strip():
            lines.append(cur.rstrip())
            cur = " " * len(head)
        cur += word + " "
    lines.append(cur.rstrip())
    return lines
