"""SQL of the regulator API, one repository module per area; callers own transactions."""
