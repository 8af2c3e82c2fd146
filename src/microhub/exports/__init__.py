"""Exports an auditor can take away: the JSON Lines journal and a DSFinV-K-shaped CSV bundle."""
