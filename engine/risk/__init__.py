"""Risk controls and sizing. The walking skeleton has sizing; limits and the circuit
breaker arrive with the risk-controls issue."""
