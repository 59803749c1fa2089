"""Prometheus metrics of the service, in a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Decisions take microseconds; HTTP answers milliseconds to seconds (the SLA is 30 s).
_DECISION_BUCKETS = (5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05)
# A report takes a second to a few minutes (a month of a large casino, with its PDF).
_REPORT_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "pitboss_events_ingested", "Events decided and committed", ["type"], registry=r
        )
        self.duplicates = Counter(
            "pitboss_events_duplicate", "Retried events answered from the record", registry=r
        )
        self.decision_latency = Histogram(
            "pitboss_decision_latency_seconds",
            "Time the engine takes to decide one event",
            ["type"],
            buckets=_DECISION_BUCKETS,
            registry=r,
        )
        self.api_response_time = Histogram(
            "api_response_time_seconds",
            "HTTP response time by route",
            ["method", "route", "status"],
            buckets=_API_BUCKETS,
            registry=r,
        )
        self.open_alerts = Gauge("pitboss_open_alerts", "Alerts open", registry=r)
        self.open_cases = Gauge("pitboss_open_cases", "Cases not closed", registry=r)
        self.open_incidents = Gauge("pitboss_open_incidents", "Incidents open", registry=r)
        self.pending = Gauge(
            "pitboss_ingest_pending_events", "Events decided, waiting for their commit", registry=r
        )
        self.webhook_rejected = Counter(
            "pitboss_webhook_rejected", "Inbound webhooks refused", ["provider", "reason"],
            registry=r,
        )  # fmt: skip
        self.notifications = Counter(
            "pitboss_notifications", "Incident notifications by outcome", ["channel", "outcome"],
            registry=r,
        )  # fmt: skip
        self.report_deliveries = Counter(
            "report_deliveries", "Report delivery attempts by outcome (sent, retry, failed)",
            ["market", "channel", "outcome"], registry=r,
        )  # fmt: skip

        self.report_generation = Histogram(
            "report_generation_duration_seconds",
            "Time to generate one market's report for one period (every format, signed)",
            ["market", "period"],
            buckets=_REPORT_BUCKETS,
            registry=r,
        )
        self.report_runs = Counter(
            "report_runs", "Report runs by outcome (generated, failed)",
            ["market", "period", "outcome"], registry=r,
        )  # fmt: skip
        # Set at start from the database too, so a late report is seen after a restart.
        self.report_last_generated = Gauge(
            "report_last_generated_timestamp_seconds",
            "When the market's report of this period kind was last generated (Unix time)",
            ["market", "period"],
            registry=r,
        )

    def observe_report(self, market: str, period: str, outcome: str, seconds: float) -> None:
        self.report_runs.labels(market, period, outcome).inc()
        if outcome == "generated":
            self.report_generation.labels(market, period).observe(seconds)
            self.report_last_generated.labels(market, period).set_to_current_time()

    def observe_decision(self, event_type: str, seconds: float) -> None:
        self.decision_latency.labels(event_type).observe(seconds)

    def count_written(self, per_type: dict[str, int]) -> None:
        for kind, n in per_type.items():
            self.events.labels(kind).inc(n)

    def count_duplicates(self, n: int) -> None:
        self.duplicates.inc(n)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.api_response_time.labels(method, route, str(status)).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
