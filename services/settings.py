"""The one settings class of trustream, read from ``TRUSTREAM_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of worker, API, producer and broker helpers.

    Environment variables are the field names upper-cased with the prefix ``TRUSTREAM_``,
    e.g. ``TRUSTREAM_KAFKA_BOOTSTRAP=broker1:9092,broker2:9092``.
    """

    model_config = SettingsConfigDict(env_prefix="TRUSTREAM_", frozen=True, extra="ignore")

    # --- Kafka -------------------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None,
        description="host:port[,host:port]. Unset: `trustream run` starts the embedded Tansu broker.")
    broker_flavor: Literal["kafka", "tansu"] = Field(
        default="kafka",
        description="'tansu' turns on the embedded broker's workarounds (services.brokers.tansu); "
                    "set by `trustream run`/`trustream broker`, leave 'kafka' for a real cluster.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    topic_prefix: str = Field(default="trustream.", description="prefix of every topic name")
    partitions: int = Field(default=4, ge=1, description="partitions of the events/profiles topics")
    replication_factor: int = Field(default=1, ge=1)
    app_id: str = Field(default="trustream", description="Faust app id = consumer group id")
    session_timeout_s: float | None = Field(
        default=None, gt=0,
        description="consumer group session timeout; default 6 s on the embedded broker, 30 s otherwise")

    # --- Worker ------------------------------------------------------------------------------
    max_message_bytes: int = Field(default=1 << 20, ge=1024, description="larger values go to the DLQ")
    dlq_max_original_bytes: int = Field(
        default=256 << 10, ge=1024,
        description="original bytes kept in a dead letter (longer ones are cut, with size and SHA-256 kept) so "
                    "that a dead letter always fits the broker's message size limit")
    max_future_skew_s: float = Field(
        default=86_400.0, gt=0, description="events timed further than this after the wall clock go to the DLQ")
    batch_max_messages: int = Field(default=5_000, ge=1, description="Kafka messages handed to the core at once")
    checkpoint_interval_s: float = Field(default=2.0, gt=0, description="wall seconds between checkpoints")
    checkpoint_delivery_timeout_s: float = Field(
        default=30.0, gt=0, description="wall seconds a checkpoint's records may take to be acknowledged by the "
                                        "broker; past it the events they cover stay unacked until a later one")
    dedup_capacity: int = Field(
        default=1 << 18, ge=1024,
        description="event ids remembered per partition to drop re-sent duplicates (8+8 bytes each)")
    data_dir: str = Field(default=".run", description="local scratch (Faust's datadir, run logs); "
                                                       "state itself lives in Kafka")
    worker_metrics_port: int = Field(default=9101, ge=0, le=65535, description="0 disables")
    worker_web_port: int = Field(default=6066, ge=1, le=65535, description="Faust's own web server")

    # --- Detection (event-time parameters; see detectors.engagement) -------------------------
    window_s: float = Field(default=3600.0, gt=0, description="tumbling window of the rate baseline")
    baseline_halflife_windows: float = Field(default=48.0, gt=0, description="EWMA half-life, windows")
    warmup_windows: int = Field(default=24, ge=1, description="windows of history before flagging")
    spike_min_count: int = Field(default=50, ge=1, description="fewest events in a window to flag")
    spike_ratio: float = Field(default=8.0, gt=1, description="window count / (baseline + 1) to flag")
    spike_z: float = Field(default=6.0, gt=0, description="standard scores above baseline to flag")

    # --- Pods (event-time parameters; see detectors.pods) --------------------------------------
    pod_early_s: float = Field(default=3600.0, gt=0, description="an engagement this soon after the post is early")
    pod_pair_capacity: int = Field(
        default=1 << 20, ge=1024,
        description="(actor, creator) pairs remembered per partition, ~64 B each; when 3/4 full, pairs seen "
                    "once and idle longest are dropped first")
    pod_post_capacity: int = Field(default=1 << 17, ge=1024,
                                   description="recent posts remembered per partition (24 B each)")
    pod_min_size: int = Field(default=3, ge=3, description="fewest members of a pod")
    pod_link_share: float = Field(default=0.6, gt=0, le=1.0,
                                  description="share of a pod's other members each member must be linked to")

    purchase_burst_chi2: float = Field(
        default=10.828, gt=0, description="MIDAS-R score that opens a burst (chi2 with 1 dof; 10.828: p = 0.001)")
    purchase_burst_g: float = Field(
        default=14.0, gt=0, description="Poisson log-likelihood ratio a burst's new fake engagers must reach "
                                        "(false-positive bound e^-G per test)")
    purchase_slow_g: float = Field(default=14.0, gt=0,
                                   description="the same for a drip-feed's slow window and shift test")
    purchase_slow_halflife_s: float = Field(default=12 * 3_600.0, gt=0, description="drip-feed window half-life")
    purchase_seen_capacity: int = Field(
        default=1 << 19, ge=1 << 13, description="accounts remembered per partition as seen engaging (24 B each)")

    audience_refresh_s: float = Field(
        default=5.0, gt=0, description="wall seconds between re-scoring the creators whose audience samples hold "
                                       "accounts whose category (bot, fake, mass follower, ...) changed")
    stream_actions: bool = Field(
        default=True,
        description="forward likes, comments and follows to their actors' partitions (the actions topic) for the "
                    "bot detector and the audience categories; off: neither runs in the worker")

    # --- API ---------------------------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_page_max: int = Field(default=500, ge=1)
    alert_below: int = Field(
        default=60, ge=1, le=100,
        description="default alert threshold: an account alerts when its authenticity is below this (the API's "
                    "?alert_below= overrides it per request; eval/REPORT.md shows precision and recall at each)")

    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.sasl_mechanism and not (self.sasl_username and self.sasl_password):
            raise ValueError("TRUSTREAM_SASL_MECHANISM needs TRUSTREAM_SASL_USERNAME and _PASSWORD")
        if self.sasl_password is not None and self.sasl_password.get_secret_value() in {"", "changeme"}:
            raise ValueError("TRUSTREAM_SASL_PASSWORD is empty or a placeholder")
        return self

    # --- derived -----------------------------------------------------------------------------
    @property
    def embedded(self) -> bool:
        return self.broker_flavor == "tansu"

    @property
    def bootstrap(self) -> str:
        if not self.kafka_bootstrap:
            raise RuntimeError(
                "TRUSTREAM_KAFKA_BOOTSTRAP is not set: point it at a Kafka cluster, "
                "or use `trustream run`, which starts the embedded broker")
        return self.kafka_bootstrap

    @property
    def session_timeout(self) -> float:
        if self.session_timeout_s is not None:
            return self.session_timeout_s
        return 6.0 if self.embedded else 30.0

    def topic(self, name: Literal["events", "profiles", "scores", "alerts", "dlq", "pod-edges", "pods",
                                   "actions", "actor-quality"]) -> str:
        return f"{self.topic_prefix}{name}"

    def kafka_client_kwargs(self) -> dict[str, object]:
        """Connection keyword arguments shared by every aiokafka client."""
        kw: dict[str, object] = {"bootstrap_servers": self.bootstrap,
                                 "security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            kw["sasl_mechanism"] = self.sasl_mechanism
            kw["sasl_plain_username"] = self.sasl_username
            kw["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        if self.security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            kw["ssl_context"] = create_ssl_context(
                cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile)
        return kw


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
