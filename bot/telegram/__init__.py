"""Telegram chat-ops (commands, auth, alerts): arrives with the Telegram issue."""
