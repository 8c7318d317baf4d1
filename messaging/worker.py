"""The RQ worker class msgbuffer runs (settings.RQ["WORKER_CLASS"]), so that plain
`python manage.py rqworker` does the right thing.

- SimpleWorker: a flush job runs in the worker process (no fork per job), keeping its
  database connection between jobs; jobs.py closes stale ones around each job.
- On start it asks for a flush job: claims left by a worker that was killed are then
  recovered even if no new message arrives.
- Heartbeats go to msgbuffer:workers too, so /health counts live workers.
- A warm shutdown (SIGTERM, Ctrl-C) tells a running drain to stop after its batch.
"""
import threading

from rq.worker import SimpleWorker

from . import buffer, jobs

stop_requested = threading.Event()


class FlushWorker(SimpleWorker):
    def bootstrap(self, *args, **kwargs):
        super().bootstrap(*args, **kwargs)
        stop_requested.clear()
        buffer.worker_heartbeat(self.name, self.worker_ttl)
        if jobs.flush_kick():
            self.log.info("asked for a flush job to recover anything left in flight")

    def heartbeat(self, timeout=None, pipeline=None):
        super().heartbeat(timeout=timeout, pipeline=pipeline)
        buffer.worker_heartbeat(self.name, timeout or self.worker_ttl)

    def request_stop(self, signum, frame):
        stop_requested.set()
        super().request_stop(signum, frame)

    def register_death(self):
        buffer.worker_gone(self.name)
        super().register_death()
