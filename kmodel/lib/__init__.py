"""Modules from Linux's lib/: test and fault-injection modules above the fs layer."""
