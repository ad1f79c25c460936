"""Pull queues: named, durable cursors an API client reads the event log through, with
acknowledgement (at least once).

cursors.py creates, finds, lists and deletes a client's queues; leases.py hands out events
(`take`, and `next_events`, which long-polls) and records acknowledgements (`ack`).

One queue has one ordered lease window, as a Kafka consumer's offset or an SQS FIFO group:
`acked_seq` says everything up to it is done; `next` hands out the events after it (or after
`leased_through_seq` while the lease is live) and leases them for the queue's visibility
timeout; if they are not acknowledged in time, the next `next` starts again at `acked_seq`.
"""
