"""Event-driven backtester: the live per-candle flow over historical candles."""
