"""Foreman: a personal assistant that steers parallel AI coding agents from chat."""

__version__ = "0.1.0"
