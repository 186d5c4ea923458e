"""The poll engine, its scheduler, and what the service reports about polling
(status, metrics).
"""
