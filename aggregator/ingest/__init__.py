"""From a source to events: fetch (with its guards), extract, and the poll
plan.
"""
