"""Cluster jobs without Dagster: a typed job spec, and backends that run it here (``local``) or
through Slurm (``slurm``). ``resources/cluster.py`` puts Dagster Pipes and run tags on top.

A backend is anything with this shape (a Kubernetes backend would render a Job manifest in
``render``, create it in ``submit``, read pod phases in ``status`` and delete it in ``cancel``)::

    name: str
    render(spec, job_dir, env) -> str            # write the launch files, submit nothing
    submit(spec, job_dir, env) -> JobHandle
    status(handle) -> JobStatus                  # Slurm state names for every backend
    cancel(handle) -> None
"""

from typing import Protocol

from mimo.cluster.job import JobHandle, JobSpec, JobStatus, open_job_pipes, tail_lines


class Backend(Protocol):
    name: str

    def render(self, spec: JobSpec, job_dir: str, env: dict[str, str]) -> str: ...

    def submit(self, spec: JobSpec, job_dir: str, env: dict[str, str]) -> JobHandle: ...

    def status(self, handle: JobHandle) -> JobStatus: ...

    def cancel(self, handle: JobHandle) -> None: ...


__all__ = ["Backend", "JobHandle", "JobSpec", "JobStatus", "open_job_pipes", "tail_lines"]
