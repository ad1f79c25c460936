"""Outgoing HTTP to addresses that clients choose (webhook receivers, media by URL).

targets.py decides where a request may go (the SSRF guard); pinned.py makes the connection go
exactly there: the address that passed the check is the address connected to.
"""
