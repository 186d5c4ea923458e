"""The events, the states they fold into, and the fold: the shapes every layer
shares. Imports nothing else of ours.
"""
