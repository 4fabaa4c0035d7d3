"""Celery settings shared by the worker (consumer) and the ingress (producer).

At-least-once delivery: acks after the task ran (``acks_late``), requeue when the worker process
is lost, prefetch of one batch per thread so a killed worker strands little, and a visibility
timeout past every command's deadline, so a redelivered command is already decided (or expired).

Messages are encoded with the ``scimgate-orjson`` codec (``infra.redis.wire``); plain ``json``
is still accepted. A lost broker connection is retried at once and then every fraction of a
second (``worker.consumer``), so writes resume within a second of Redis coming back.
"""

from __future__ import annotations

from infra.config import Settings, celery_broker_url
from infra.redis.wire import CONTENT_TYPE, SERIALIZER

APPLY_BATCH_TASK = "scimgate.apply_batch"
# Publishing from the ingress: a couple of quick retries over a broken connection, then fail
# (the ingress fences the commands and answers 503 at once).
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}


def celery_settings(settings: Settings) -> dict:
    visibility = max(60, int(settings.command_timeout + settings.reply_margin) * 2)
    return {
        "broker_url": celery_broker_url(settings.redis_url),
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 2,
        "broker_transport_options": {
            "visibility_timeout": visibility,
            "socket_timeout": 5,
            "socket_connect_timeout": 2,
            "retry_on_timeout": True,
            "health_check_interval": 5,
        },
        "task_publish_retry_policy": PUBLISH_RETRY_POLICY,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": SERIALIZER,
        "accept_content": [CONTENT_TYPE, "json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_default_queue": settings.queue_name,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        # SCIMGATE_CELERY_EVENTS=1: Flower (or `celery events`) sees every batch task unchanged.
        "worker_send_task_events": settings.celery_events,
        "task_send_sent_event": settings.celery_events,
    }
