"""Channels: Telegram and the terminal, both driving the engine in ``flows``."""
