"""Operator alerts: conditions an operator must hear about, recorded and sent to the alert
webhook.

record.py writes an alert (in the caller's transaction) and queues its delivery to the alert
webhook, a `webhook_endpoint` with source "alerts" that the ordinary delivery worker serves
(retries, signing, target checks) and the event fan-out leaves out. The other modules say when
each kind is raised: instances.py (instance status), deliveries.py (dead deliveries, disabled
endpoints), quota.py (the daily quota at 80 %).
"""
