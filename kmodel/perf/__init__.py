"""Performance workloads, shared by the pytest-benchmark suite (bench/) and the
friendly front (kmodel bench): each workload is defined once, here."""
