"""Telegram chat-ops: commands with roles and confirmations, alerts through a store outbox,
backtests from chat. See ``service`` (the bot thread) and ``daemon`` (how the daemon uses it)."""
