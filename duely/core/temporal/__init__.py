"""Temporal plumbing: the one client connection, the payload codec, every workflow id and search
attribute."""
