"""The gateway's Prometheus metrics (exposed by GET /metrics), one registry per app."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.accepted = Counter(
            "tgw_messages_accepted",
            "Messages accepted through the API",
            ["kind"],
            registry=self.registry,
        )
        self.queue = Gauge(
            "tgw_queue_messages",
            "Messages by instance and status (read at scrape time)",
            ["instance", "status"],
            registry=self.registry,
        )
        self.instance_status = Gauge(
            "tgw_instance_status",
            "1 for the instance's current status (its connection and the account's condition:"
            " ready, flood_wait, restricted, frozen, banned, deactivated, revoked, ...), else 0",
            ["instance", "status"],
            registry=self.registry,
        )
        self.instance_status_since = Gauge(
            "tgw_instance_status_since_seconds",
            "Seconds since the instance entered its current status",
            ["instance"],
            registry=self.registry,
        )
        self.instance_up = Gauge(
            "tgw_instance_up",
            "1 when the instance is ready to send",
            ["instance"],
            registry=self.registry,
        )
        self.webhook_deliveries = Gauge(
            "tgw_webhook_deliveries",
            "Webhook deliveries not yet delivered, by endpoint and status (read at scrape time)",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.webhook_oldest_pending = Gauge(
            "tgw_webhook_oldest_pending_seconds",
            "Age of the oldest pending delivery per endpoint (0: none)",
            ["endpoint"],
            registry=self.registry,
        )
        self.webhook_enabled = Gauge(
            "tgw_webhook_endpoint_enabled",
            "1 while the endpoint is enabled (a 410 or the admin disables it)",
            ["endpoint"],
            registry=self.registry,
        )
        self.refused = Counter(
            "tgw_requests_refused",
            "Send requests refused, by HTTP status",
            ["status"],
            registry=self.registry,
        )
        self.table_rows = Gauge(
            "tgw_table_rows",
            "Rows per table (read at scrape time; on PostgreSQL the planner's estimate for"
            " large tables)",
            ["table"],
            registry=self.registry,
        )
        self.retention_deleted = Counter(
            "tgw_retention_deleted",
            "Rows deleted by the retention job ([retention]), by table",
            ["table"],
            registry=self.registry,
        )
        self.wakeups_sent = Counter(
            "tgw_wakeups_sent",
            "Wake-ups sent to the other processes (PostgreSQL NOTIFY, app/wakeups.py)",
            registry=self.registry,
        )
        self.wakeups_received = Counter(
            "tgw_wakeups_received",
            "Wake-ups received from the other processes (PostgreSQL LISTEN)",
            registry=self.registry,
        )
        self.cluster_sessions = Gauge(
            "tgw_cluster_sessions",
            "Instances whose session this process holds (or is opening)",
            registry=self.registry,
        )
        self.cluster_fair_share = Gauge(
            "tgw_cluster_fair_share",
            "The most instances this process may hold: its fair share among the live workers",
            registry=self.registry,
        )
        self.cluster_live_workers = Gauge(
            "tgw_cluster_live_workers",
            "Live processes of the deployment that hold sessions (role worker or all)",
            registry=self.registry,
        )
        self.cluster_handovers = Counter(
            "tgw_cluster_handovers",
            "Instances this process handed over to another (a process joined)",
            registry=self.registry,
        )
        self.wakeup_listener_connected = Gauge(
            "tgw_wakeup_listener_connected",
            "1 while wake-ups from the other processes arrive (PostgreSQL); 0 on SQLite or while"
            " the listen connection is down (workers then poll faster)",
            registry=self.registry,
        )
