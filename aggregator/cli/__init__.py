"""The `aggregator` command: one dispatch, one handler per subcommand, and the
service it runs.
"""
