"""Runtime: event schema, window state, streaming and batch drivers, decisions, alerts
and cases. Grows with the compiled policy engine."""
