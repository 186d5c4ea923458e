"""Tools for trying the aggregator offline, off the runtime path: the live
fixture server.
"""
