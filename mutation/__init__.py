"""Mutation testing of the unit suite (``make mutation``): see mutation/run.py."""
