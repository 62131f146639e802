"""The shell's word splitter against shlex, its model, and its speed class."""
import shlex

from hypothesis import given, settings, strategies as st

from kmodel.cli.split import split_words


def outcome(fn, text):
    try:
        return fn(text)
    except ValueError as e:
        return str(e)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="ab \t\n'\"\\\x0b=é", max_size=40))
def test_split_words_is_shlex_split(text):
    assert outcome(split_words, text) == outcome(lambda t: shlex.split(t, posix=True), text)


def test_a_megabyte_line_splits_in_linear_time():
    """The words of a 1 MB line (shlex took ~10 s on it; split_words is one
    regex pass).  No timing is asserted: a quadratic splitter would make the
    whole suite visibly slower, not this test fail."""
    words = split_words("echo " + "a" * (1 << 20) + ' "b c" d')
    assert [len(w) for w in words] == [4, 1 << 20, 3, 1]
