"""Helpers for hotplug tests: a notifier that records what it sees."""
from kmodel.cpu.actions import action_name
from kmodel.cpu.notifier import NOTIFY_OK, notifier_block


class Recorder:
    """A CPU notifier that records (action name, cpu); optionally fails."""

    def __init__(self, k, priority, name=None, fail=None):
        self.events = []
        self.fail = fail or {}          # (action, cpu or None) -> return value
        self.nb = notifier_block(self.call, priority, name=name or f"rec{priority}")
        k.register_cpu_notifier(self.nb)

    def call(self, nb, action, cpu):
        self.events.append((action_name(action), cpu))
        for key in ((action, cpu), (action, None)):
            if key in self.fail:
                return self.fail[key]
        return NOTIFY_OK

    def take(self):
        ev, self.events = self.events, []
        return ev
