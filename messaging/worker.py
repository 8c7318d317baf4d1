"""The RQ worker class msgbuffer runs (settings.RQ["WORKER_CLASS"]), so that plain
`python manage.py rqworker` does the right thing.

- SimpleWorker: a flush job runs in the worker process (no fork per job), keeping its
  database connection between jobs; jobs.py closes stale ones around each job.
- On start it requests a flush job: claims left by a worker that was killed are then
  recovered even if no new message arrives. While idle it wakes every IDLE_CHECK_EVERY
  seconds and enqueues a job if work waits or is claimed with no job active
  (jobs.request_flush_job_if_unattended): a web process may die between marking a job
  requested and enqueueing it.
- Heartbeats go to msgbuffer:workers too, so /health counts live workers.
- When retention is on, it schedules the next housekeeping run on start and while idle
  (jobs.schedule_housekeeping: one job per time slot, however many workers ask), and
  warns if it runs without `--with-scheduler`, which runs the schedule.
- A warm shutdown (SIGTERM, Ctrl-C) tells a running drain to stop after its batch
  (jobs.stop_requested, the job's input).
- Every MSGBUFFER_STATUS_LOG_INTERVAL it logs one status line (status_line.py), checked
  at each heartbeat; RQ's own per-job lines are DEBUG (settings.LOGGING).
"""

import logging

from rq.worker import SimpleWorker, WorkerStatus

from . import buffer, jobs
from .conf import msgbuffer_settings
from .status_line import StatusLine

# How often an idle worker stops waiting on RQ to look for unattended work (seconds).
# RQ's own wake-up comes every worker_ttl - 15 s: 405 s by default.
IDLE_CHECK_EVERY = 5


log = logging.getLogger(__name__)


class FlushWorker(SimpleWorker):
    status_line: StatusLine | None = None  # from bootstrap on

    def work(self, *args, with_scheduler: bool = False, **kwargs):
        if jobs.housekeeping_wanted() and not with_scheduler:
            log.warning(
                "retention is on but this worker runs without --with-scheduler: it runs no scheduled "
                "housekeeping (another worker with it may; else use manage.py prune_messages from cron)"
            )
        return super().work(*args, with_scheduler=with_scheduler, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        return min(super().dequeue_timeout, IDLE_CHECK_EVERY)

    def bootstrap(self, *args, **kwargs):
        super().bootstrap(*args, **kwargs)
        jobs.stop_requested.clear()
        self.status_line = StatusLine(msgbuffer_settings().STATUS_LOG_INTERVAL)
        buffer.worker_heartbeat(self.name, self.worker_ttl)
        if jobs.request_flush_job() or jobs.request_flush_job_if_unattended():
            self.log.info("requested a flush job to recover anything left in flight")
        if jobs.housekeeping_wanted() and jobs.schedule_housekeeping():
            self.log.info("scheduled the next housekeeping run")

    def heartbeat(self, timeout=None, pipeline=None):
        super().heartbeat(timeout=timeout, pipeline=pipeline)
        buffer.worker_heartbeat(self.name, timeout or self.worker_ttl)
        # RQ heartbeats an idle worker each time it wakes from waiting for a job, and after
        # each job. DEBUG: under light load this races the web process's own request for the
        # message that came in just after a job ended (18 lines a minute at 10 msg/s, issue
        # 11), so at INFO it read as a recovery where there was none.
        if self.get_state() == WorkerStatus.IDLE:
            if jobs.request_flush_job_if_unattended():
                self.log.debug("enqueued a flush job for messages no job was attending to")
            if jobs.housekeeping_wanted() and jobs.schedule_housekeeping():
                self.log.info("scheduled the next housekeeping run (none was)")
        # Not from inside RQ's pipelines (job bookkeeping): from the worker's own loop.
        if pipeline is None and self.status_line is not None:
            self.status_line.log_if_due()

    def request_stop(self, signum, frame):
        jobs.stop_requested.set()
        super().request_stop(signum, frame)

    def register_death(self):
        buffer.worker_gone(self.name)
        super().register_death()
