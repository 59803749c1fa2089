"""The live service (`pitboss serve`): HTTP wiring around the engine's domain code."""
