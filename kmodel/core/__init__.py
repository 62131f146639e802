"""The kernel core: errno, printk, BUG/WARN, Kconfig, list_head and kref."""
