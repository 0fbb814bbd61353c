"""The chaos and soak campaign: the real daemon against a fault-injecting fake Binance, with
SIGKILLs, and invariants that must hold after every clean stop (see campaign.py)."""
