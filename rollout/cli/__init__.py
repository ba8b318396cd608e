"""The `rollout` command line: thin commands that parse, read or write intent, render."""
