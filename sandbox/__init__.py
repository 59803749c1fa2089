"""`/sandbox/regulator/*`: the regulator API over synthetic data, plus validators."""
