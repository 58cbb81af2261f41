"""Prometheus metrics of the worker and the API (names are the dashboard's contract)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# --- worker -------------------------------------------------------------------------------------
EVENTS_CONSUMED = Counter("trustream_events_consumed_total", "Valid events consumed, by kind", ["kind"])
PROFILES_CONSUMED = Counter("trustream_profiles_consumed_total", "Valid profile snapshots consumed")
DUPLICATES = Counter("trustream_duplicate_events_total", "Events dropped as re-sent duplicates (event_id)")
DLQ_MESSAGES = Counter("trustream_dlq_messages_total", "Messages or batch items sent to the DLQ", ["reason"])
BATCH_EVENTS = Histogram("trustream_batch_events", "Events per batch handed to the core",
                         buckets=(1, 10, 100, 1_000, 5_000, 20_000, 100_000))
BATCH_MESSAGES = Histogram("trustream_batch_messages", "Kafka messages per batch",
                           buckets=(1, 10, 100, 1_000, 5_000, 20_000))
BATCH_SECONDS = Histogram("trustream_batch_seconds", "Wall seconds to process one batch",
                          buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5))
EVENT_TIME_LAG = Gauge("trustream_event_time_lag_seconds",
                       "Wall clock minus the newest event time processed", ["partition"])
CONSUMER_LAG = Gauge("trustream_consumer_lag_messages", "High watermark minus next offset to process",
                     ["topic", "partition"])
ACCOUNTS_TRACKED = Gauge("trustream_accounts_tracked", "Accounts with state, by partition", ["partition"])
FLAGS_RAISED = Counter("trustream_flags_raised_total", "Flags raised for the first time, by kind", ["kind"])
CHECKPOINT_BYTES = Counter("trustream_checkpoint_bytes_total", "Bytes written to the checkpoint topic")
RESTORES = Counter("trustream_partition_restores_total", "Partitions restored from checkpoints")

# --- API ----------------------------------------------------------------------------------------
API_LATENCY = Histogram("trustream_api_request_seconds", "API request latency", ["route", "method", "status"],
                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
API_ACCOUNTS = Gauge("trustream_api_accounts", "Accounts in the API's view")
API_SCORES_LAG = Gauge("trustream_api_scores_lag_messages", "Scores topic messages not yet read by the API")

# --- pods ---
POD_PAIRS = Counter("trustream_pod_pair_summaries_total", "Repeated early pair summaries sent to the pod graph")
POD_GRAPH_PAIRS = Gauge("trustream_pod_graph_pairs", "Repeated pairs held by the pod graph")
PODS_ACTIVE = Gauge("trustream_pods_active", "Engagement pods currently found")
POD_REFRESH_SECONDS = Histogram("trustream_pod_refresh_seconds", "Wall seconds to find the pods in the graph",
                                buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0))

# --- bots and audience ---
ACTIONS_FORWARDED = Counter("trustream_actions_forwarded_total", "Likes, comments and follows sent to their actors' "
                            "partitions (the actions topic)")
ACTIONS_BUFFERED = Gauge("trustream_actions_buffered", "Actions waiting for the sources' watermarks", ["partition"])
AUDIENCE_REFRESHED = Counter("trustream_audience_rescored_total", "Creators re-scored because accounts in their "
                             "audience samples changed category")
QUALITY_ACCOUNTS = Gauge("trustream_quality_accounts",
                         "Accounts with a known audience category in this worker's copy of the actor-quality topic")
