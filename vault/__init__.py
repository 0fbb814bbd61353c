"""Secrets (exchange API keys, Telegram token): loader with permission checks.

Not implemented yet: the walking skeleton runs paper mode only and needs no secret.
"""
