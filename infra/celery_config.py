"""Celery settings shared by the worker (consumer) and the ingress (producer).

At-least-once delivery: acks after the task ran (``acks_late``), requeue when the worker process
is lost, prefetch of one batch per thread so a killed worker strands little, and a visibility
timeout past every command's deadline, so a redelivered command is already decided (or expired).
"""

from __future__ import annotations

from infra.config import Settings, celery_broker_url

APPLY_BATCH_TASK = "scimgate.apply_batch"


def celery_settings(settings: Settings) -> dict:
    visibility = max(60, int(settings.command_timeout + settings.reply_margin) * 2)
    return {
        "broker_url": celery_broker_url(settings.redis_url),
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": visibility},
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_default_queue": settings.queue_name,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_send_task_events": False,
        "task_send_sent_event": False,
    }
