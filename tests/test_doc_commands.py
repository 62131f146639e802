"""The commands in docs/concurrency.md, docs/layers.md, docs/consumers.md,
docs/crash.md, docs/model.md, docs/guarantees.md and docs/sizing.md print what the pages say they print (KMODEL_UPDATE_TRANSCRIPTS=1
rewrites the blocks)."""
import os

import pytest

from tourdoc import DOCS, blocks, fresh_tmp, regenerate, run_command

PAGES = {"concurrency.md": ("--strategy exhaustive", "--strategy pct", "--replay",
                            "quiz interleave", "builtin:irq-nesting", "builtin:rb-lap",
                            "--coverage"),
         "layers.md": ("builtin:nested-writer-walks-back", "builtin:rb-discard-sample",
                       "CONFIG_KMODEL_RB_ERRATUM"),
         "consumers.md": ("trace record", "trace show"),
         "crash.md": ("crash-record.kms --pmem", "crash extract", "crash-next-boot.kms",
                      "# exit 2"),
         "model.md": ("machine check xeon-2s-skylake", "machine check nehalem-2009"),
         "guarantees.md": ("run /dev/zero",),
         "sizing.md": ("trace record /tmp/in-time --time", "trace sizing --time",
                       "--recommend")}


# The pages' /tmp files live in tourdoc's private directory, new each run
# (docs/crash.md's commands run in page order: the extraction after the recording).
if os.environ.get("KMODEL_UPDATE_TRANSCRIPTS") == "1":
    for page in PAGES:
        regenerate(DOCS / page)
    fresh_tmp()

CASES = [(page, cmd, want) for page in PAGES
         for _, _, cmds in blocks((DOCS / page).read_text()) for cmd, want in cmds]


@pytest.mark.parametrize("page", list(PAGES))
def test_the_page_shows_what_it_must(page):
    used = " ".join(c for p, c, _ in CASES if p == page)
    for what in PAGES[page]:
        assert what in used


@pytest.mark.parametrize("page, cmd, want", CASES, ids=[f"{p}: {c}" for p, c, _ in CASES])
def test_doc_command(page, cmd, want):
    assert run_command(cmd) == want
