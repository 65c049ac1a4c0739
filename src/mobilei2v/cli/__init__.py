"""The `mobilei2v` command: one module per command, each thin (parse, call the library, report)."""
