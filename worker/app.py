"""The Celery application of the worker process."""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from infra.celery_config import celery_settings
from infra.config import Settings
from infra.logging import configure_logging, get_logger
from worker.heartbeat import Heartbeat

app = Celery("scimgate", include=["worker.tasks"])
_runtime = None
_heartbeat: Heartbeat | None = None


def configure(settings: Settings) -> Celery:
    app.conf.update(celery_settings(settings))
    app.conf.worker_consumer = "worker.consumer:QuickReconnectConsumer"
    app.conf.scimgate_settings = settings
    return app


def runtime():
    """The process's WorkerRuntime, created on first use (after fork, if any)."""
    global _runtime
    if _runtime is None:
        from worker.runtime import WorkerRuntime

        settings = app.conf.get("scimgate_settings") or Settings().resolved()
        configure_logging(settings.log_level)
        _runtime = WorkerRuntime(settings)
    return _runtime


def heartbeat() -> Heartbeat:
    """The process's heartbeat (stamping once the worker is ready)."""
    global _heartbeat
    if _heartbeat is None:
        rt = runtime()
        _heartbeat = Heartbeat(rt.redis, rt.worker_id, rt.settings.queue_name,
                               wedged_after=rt.settings.worker_wedged_after)
    return _heartbeat


@worker_process_init.connect
def _reset_after_fork(**_kwargs) -> None:
    global _runtime, _heartbeat
    _runtime = None
    _heartbeat = None


@worker_ready.connect
def _start_background(**_kwargs) -> None:
    runtime().relay.start()
    heartbeat().start()  # live (stamped) before it says it is ready
    get_logger("scimgate.worker").info("worker_ready", queue=app.conf.task_default_queue)


@worker_shutdown.connect
def _close(**_kwargs) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()
    if _runtime is not None:
        _runtime.close()
