"""A message echoes what the user typed as printable text (hardening): a file
name or a word holding an escape sequence, a bell or a newline is shown as
Python writes it ('\\x1b'), so that an error line never drives the terminal
and is always one line."""
import io

import pytest

from kmodel.cli.errors import printable
from kmodel.cli.main import main

EVIL = "ab\x1b[2J\x07c\nd"
SHOWN = "ab\\x1b[2J\\x07c\\nd"


@pytest.mark.parametrize("argv", [
    ["run", EVIL],
    ["explore", EVIL],
    ["machine", "show", EVIL],
    ["trace", "show", EVIL],
    ["crash", "extract", EVIL, "-o", "out"],
    ["draw", "trace", "--script", EVIL],
    ["trace", "record", "t", "--events", "5", "--machine", EVIL],
    ["trace", "record", "t", "--events", "5", "--subbuf-size", EVIL],
    ["trace", "record", "t", "--events", "5", "--hotplug", EVIL],
    ["explore", "builtin:" + EVIL],
], ids=lambda argv: " ".join(argv[:2]) + f" {len(argv)}")
def test_an_error_line_echoes_the_users_words_printably(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        rc = main(argv, out=io.StringIO())
    except SystemExit as e:             # refused as the line is read
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("kmodel: error: ") and err.endswith("\n"), err
    assert err[:-1].isprintable(), repr(err)
    assert SHOWN in err


def test_printable_leaves_printable_text_alone():
    for text in ("plain", "tab\there", "ünïcode ok", ""):
        assert printable(text) == text.replace("\t", "\\t")
    assert printable("\x1b[31m\x00\r") == "\\x1b[31m\\x00\\r"
