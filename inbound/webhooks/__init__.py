"""Webhooks: endpoints, Standard Webhooks signing, fan-out and the delivery worker.

signing.py and policy.py are pure; endpoints.py holds the create/update/rotate logic shared by
the admin API and the config; fanout.py turns the event log into delivery rows; delivery.py is
the worker that sends them. Where a URL may point, and pinning the connection to it, is the
core's (app/net/).
"""
