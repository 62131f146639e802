"""Pseudo-files: a small VFS with procfs, sysfs and debugfs trees."""
