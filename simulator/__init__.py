"""Synthetic casino population with labelled typologies and the backtest runner."""
