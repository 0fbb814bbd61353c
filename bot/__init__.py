"""The daemon application: composition root, CLI, configuration and (later) chat-ops."""
