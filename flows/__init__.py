"""The channel-free dialogue engine: plain inputs in, plain replies out.

Nothing in this package imports ``telegram``; ``bot/`` adapts channels to it.
"""
