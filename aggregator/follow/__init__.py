"""What follows an append: the runner and its followers (the projection, the
story linker, the publisher).
"""
