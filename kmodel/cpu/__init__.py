"""CPUs: cpumasks, notifier chains, cpu_up/cpu_down, suspend/resume, per-CPU data."""
