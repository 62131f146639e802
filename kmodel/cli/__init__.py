"""The kmodel command line: one file per command, dispatched by cli.main."""
