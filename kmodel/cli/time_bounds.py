"""Ranges of the command line's durations, rates and bandwidths (as
kmodel/cli/bounds.py for counts and sizes): parsed by hw.time_units, checked
against a range as argparse reads the word."""
from hw.time_units import (format_duration, format_rate, parse_bandwidth, parse_duration,
                           parse_rate)
from kmodel.cli.bounds import Bounded


class DurationIn(Bounded):
    """A duration ('500us', '10ms') in lo..hi ns."""

    def parse(self, text):
        return parse_duration(text)

    def show(self, v):
        return format_duration(v)


class RateIn(Bounded):
    """Events a second ('2M', '500k') in lo..hi."""

    def parse(self, text):
        return parse_rate(text)

    def show(self, v):
        return format_rate(v)


class BandwidthIn(Bounded):
    """Bytes a second ('100MB/s', '1Gb/s') in lo..hi."""

    def parse(self, text):
        return parse_bandwidth(text)

    def show(self, v):
        return f"{v / 1e6:g}MB/s"
