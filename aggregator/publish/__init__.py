"""Rendering documents from projections: nothing here reads the log or a clock."""
