"""Cluster resource: run a :class:`mimo.cluster.JobSpec` here (``local``) or on Slurm (``slurm``)
with Dagster Pipes, so the job's logs, custom messages and asset materializations stream into the
run while it runs.

- Pipes: the context is a JSON file in the job directory, messages a JSONL file the job appends to
  (``open_dagster_pipes()`` picks both up from ``DAGSTER_PIPES_*`` in the job's environment).
- One job per name: ``<job_root>/<job name>/active.json`` records the live job (written under a flock,
  see :mod:`mimo.cluster.registry`); any later run of that name, a plain rerun included, attaches to
  it while it runs (or when it completed) with the same spec, waits for it with another spec, and
  submits only when it is gone. The handle is also kept in the run's tags (``mimo/cluster/<job name>``,
  looked up along the parent runs too) for retries and re-executions.
- Cancel: when the Dagster run is interrupted the job is cancelled (``scancel`` / SIGTERM).
- Failure: ``dg.Failure`` naming the state (FAILED, CANCELLED, TIMEOUT, ...), exit code, reason and
  the last lines of the job's log.
- Resubmit: a job that ends in a state of ``resubmit_on`` (its time limit, a lost node, preemption:
  what Slurm's ``--requeue`` covers) is submitted again, at most ``max_resubmits`` times; training
  jobs resume from their newest checkpoint. Each resubmission is logged and counted in the result's
  ``cluster/resubmits``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import dagster as dg
from dagster_pipes import (
    DAGSTER_PIPES_CONTEXT_ENV_VAR,
    DAGSTER_PIPES_MESSAGES_ENV_VAR,
    encode_param,
)
from pydantic import PrivateAttr

from mimo.cluster import Backend, JobHandle, JobSpec, JobStatus, tail_lines
from mimo.cluster.job import (
    DS_CONFIG,
    PIPES_CONTEXT,
    PIPES_MESSAGES,
    SCRIPT,
    copy_new_bytes,
    end_summary,
    prepare_job_dir,
    write_text_atomic,
)
from mimo.cluster.local import LocalBackend
from mimo.cluster.locks import LockTimeout
from mimo.cluster.registry import JobRegistry, cancel_hint
from mimo.cluster.slurm import SlurmBackend, SlurmError, SlurmOptions
from mimo.paths import expand

TAG_PREFIX = "mimo/cluster/"
Context = dg.OpExecutionContext | dg.AssetExecutionContext

class JobFileMessageReader(dg.PipesMessageReader):
    """Reads Pipes messages from the JSONL file a job appends to, from its first line (so a
    reattached run sees everything), without truncating or deleting it."""

    def __init__(self, path: str, poll_s: float = 0.1):
        self.path = path
        self.poll_s = poll_s

    @property
    def expected_writer_count(self) -> int:  # one writer: rank 0 of the job
        return 1

    @contextmanager
    def read_messages(self, handler: dg.PipesMessageHandler) -> Iterator[dict[str, Any]]:
        stop = threading.Event()
        thread = threading.Thread(target=self._loop, args=(handler, stop), daemon=True)
        thread.start()
        try:
            yield {"path": self.path}
        finally:
            stop.set()
            thread.join(timeout=60)

    def _loop(self, handler: dg.PipesMessageHandler, stop: threading.Event) -> None:
        pos, buf = 0, b""
        while True:
            stopping = stop.is_set()  # read once more after the stop request: nothing is lost
            try:
                with open(self.path, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
                    pos = f.tell()
            except FileNotFoundError:
                chunk = b""
            *lines, buf = (buf + chunk).split(b"\n")
            for line in lines:
                if line.strip():
                    try:
                        handler.handle_message(json.loads(line))
                    except Exception:  # one bad line must not stop the stream
                        handler.report_pipes_framework_exception(f"{type(self).__name__} ({self.path})", sys.exc_info())
            if stopping:
                return
            stop.wait(self.poll_s)

    def no_messages_debug_text(self) -> str:
        return f"Read messages from {self.path}."


@dataclass
class ClusterRun:
    """What :meth:`ClusterResource.run` / :meth:`~ClusterResource.watch` return."""

    handle: JobHandle | None
    status: JobStatus | None = None
    session: dg.PipesSession | None = None
    reattached: bool = False
    dry_run: bool = False
    files: list[str] = field(default_factory=list)
    resubmits: int = 0

    @property
    def metadata(self) -> dict[str, Any]:
        """Job facts attached to every result (backend, job id, job dir, state)."""
        if self.handle is None:
            return {"cluster/dry_run": True, "cluster/files": self.files}
        return {"cluster/backend": self.handle.backend, "cluster/job_id": self.handle.job_id,
                "cluster/job_dir": dg.MetadataValue.path(self.handle.job_dir),
                "cluster/state": self.status.state if self.status else "UNKNOWN",
                "cluster/reattached": self.reattached, "cluster/resubmits": self.resubmits}

    def _invocation(self) -> dg.PipesClientCompletedInvocation:
        if self.session is None:
            raise dg.Failure(f"dry run: wrote {', '.join(self.files)}; nothing was submitted, so there is "
                             "nothing to materialize", metadata={"files": self.files}, allow_retries=False)
        return dg.PipesClientCompletedInvocation(self.session, metadata=self.metadata)

    def get_results(self, implicit_materializations: bool = True) -> list[dg.PipesExecutionResult]:
        return list(self._invocation().get_results(implicit_materializations=implicit_materializations))

    def get_materialize_result(self) -> dg.MaterializeResult:
        return self._invocation().get_materialize_result()

    def get_reported_results(self) -> list[dg.PipesExecutionResult]:
        self._invocation()
        return list(self.session.get_reported_results())

    def get_custom_messages(self) -> list[Any]:
        return list(self.session.get_custom_messages()) if self.session else []


def _context_data(context: Context, extras: Mapping[str, Any] | None) -> Any:
    # dagster's own builder of the Pipes context (pinned dagster; no public equivalent in 1.13)
    from dagster._core.pipes.context import build_external_execution_context_data

    return build_external_execution_context_data(context, extras)


class JobEndedFailure(dg.Failure):
    """The job ended without completing; ``status`` says how."""

    def __init__(self, status: JobStatus, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = status


def failure_for(handle: JobHandle, status: JobStatus, tail_n: int = 50) -> JobEndedFailure:
    """A ``dg.Failure`` that names why the job ended and shows the end of its log."""
    tail = tail_lines(handle.log_path, tail_n)
    desc = end_summary(handle, status) + f".\nlog: {handle.log_path}\n" + (
        f"last {tail_n} lines:\n{tail}" if tail else "(the log is empty or missing)")
    return JobEndedFailure(status, description=desc, allow_retries=status.state != "CANCELLED", metadata={
        "job_id": handle.job_id, "state": status.state, "exit_code": status.exit_code or "",
        "reason": status.reason or "", "log": dg.MetadataValue.path(handle.log_path),
        "log_tail": dg.MetadataValue.md(f"```\n{tail}\n```")})


class ClusterResource(dg.ConfigurableResource):
    """Where training and other heavy jobs run: ``local`` (this machine) or ``slurm``.

    Slurm fields (``partition``, ``account``, ``qos``, ``time_limit``) are defaults that a
    :class:`JobSpec` can override; ``extra_sbatch`` lines are added to every script (``--constraint=h100``);
    ``setup`` shell lines run before the job's own (``module load cuda``, ``source venv/bin/activate``).
    ``dry_run`` renders the sbatch script and DeepSpeed config and submits nothing.
    ``job_root`` must be visible from the compute nodes (a shared file system on a real cluster).
    """

    backend: Literal["local", "slurm"] = "local"
    job_root: str = "{state}/cluster-jobs"
    env: dict[str, str] = {}
    poll_interval_s: float = 10.0
    status_error_budget_s: float = 600.0  # scheduler unreachable this long while watching -> fail (job left running)
    message_grace_s: float = 30.0  # after the job ends, wait this long for its Pipes "closed" message
    log_tail_lines: int = 50
    forward_logs: bool = True  # copy the job's log into the step's stdout (Dagster compute logs)
    reattach: bool = True
    wait_for_live_job_s: float = 24 * 3600.0  # a live job of the same name with another spec: wait, then fail
    wait_log_interval_s: float = 600.0  # while waiting, log where things stand this often
    submit_lock_timeout_s: float = 300.0  # another run holding the job name's submit lock this long -> fail
    cancel_grace_s: float = 10.0  # local: SIGTERM, then SIGKILL after this long
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_limit: str = "24:00:00"
    extra_sbatch: list[str] = []
    setup: list[str] = []
    gpu_directive: Literal["gres", "gpus-per-node"] = "gres"
    export: str = "ALL"
    dry_run: bool = False
    resubmit_on: list[str] = ["TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL"]
    max_resubmits: int = 1

    _backends: dict[str, Backend] = PrivateAttr(default_factory=dict)

    def get_backend(self, name: str | None = None) -> Backend:
        name = name or self.backend
        if name not in self._backends:
            if name == "local":
                self._backends[name] = LocalBackend(self.cancel_grace_s)
            elif name == "slurm":
                self._backends[name] = SlurmBackend(SlurmOptions(
                    partition=self.partition, account=self.account, qos=self.qos, time_limit=self.time_limit,
                    extra_sbatch=list(self.extra_sbatch), setup=list(self.setup),
                    gpu_directive=self.gpu_directive, export=self.export))
            else:
                raise ValueError(f"unknown cluster backend {name!r} (local, slurm)")
        return self._backends[name]

    def new_job_dir(self, spec: JobSpec, run_id: str = "norun") -> str:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10**6:06d}"
        return os.path.join(expand(self.job_root), spec.name, f"{stamp}-{run_id[:8]}")

    def render(self, spec: JobSpec, job_dir: str | None = None) -> list[str]:
        """Write the launch files (``job.sbatch`` or ``launch.json``, ``ds_config.json``) without
        Dagster and without submitting; return their paths."""
        job_dir = job_dir or self.new_job_dir(spec, "dryrun")
        files = [self.get_backend().render(spec, job_dir, dict(self.env))]  # no Pipes session
        if spec.deepspeed is not None:
            files.append(os.path.join(job_dir, DS_CONFIG))
        return files

    # -- Dagster side -------------------------------------------------------------------------

    def _previous(self, context: Context, spec: JobSpec) -> JobHandle | None:
        """The handle recorded for this job name in this run's tags or its parent runs' tags."""
        key, run, hops = TAG_PREFIX + spec.name, context.instance.get_run_by_id(context.run.run_id), 0
        while run is not None and hops < 20:
            if key in run.tags:
                try:
                    return JobHandle.from_json(run.tags[key])
                except (ValueError, TypeError):
                    return None
            run = context.instance.get_run_by_id(run.parent_run_id) if run.parent_run_id else None
            hops += 1
        return None

    def _try_reattach(self, context: Context, spec: JobSpec) -> JobHandle | None:
        prev = self._previous(context, spec) if self.reattach else None
        if prev is None:
            return None
        if prev.backend != self.backend or prev.fingerprint != spec.fingerprint():
            context.log.info(f"job {prev.job_id} in the run tags was for another backend or spec; submitting anew")
            return None
        try:
            st = self.get_backend(prev.backend).status(prev)
        except (SlurmError, OSError, ValueError) as exc:
            context.log.warning(f"cannot query previous job {prev.job_id} ({exc}); submitting anew")
            return None
        if st.active or st.ok:
            context.log.info(f"reattaching to {prev.backend} job {prev.job_id} ({st.state}) from the run tags")
            return prev
        context.log.info(f"previous {prev.backend} job {prev.job_id} ended {st.state}; submitting anew")
        return None

    def _status_of(self, handle: JobHandle) -> JobStatus:
        return self.get_backend(handle.backend).status(handle)

    def _submit_new(self, context: Context, spec: JobSpec, extras: Mapping[str, Any] | None) -> JobHandle:
        job_dir = self.new_job_dir(spec, context.run.run_id)
        prepare_job_dir(spec, job_dir)
        ctx_path = os.path.join(job_dir, PIPES_CONTEXT)
        write_text_atomic(ctx_path, json.dumps(_context_data(context, extras)))
        env = {**self.env,
               DAGSTER_PIPES_CONTEXT_ENV_VAR: encode_param({"path": ctx_path}),
               DAGSTER_PIPES_MESSAGES_ENV_VAR: encode_param({"path": os.path.join(job_dir, PIPES_MESSAGES)})}
        try:
            handle = self.get_backend().submit(spec, job_dir, env)
        except (SlurmError, ValueError, OSError) as exc:
            raise dg.Failure(f"could not submit {spec.name} to {self.backend}: {exc}") from exc
        context.log.info(f"submitted {spec.name} as {handle.backend} job {handle.job_id} (dir {job_dir})")
        return handle

    def submit(self, context: Context, spec: JobSpec, extras: Mapping[str, Any] | None = None) -> tuple[JobHandle, bool]:
        """Reattach to the live job of this name, or submit it; record it in the run tags and in
        ``<job_root>/<name>/active.json`` (under an exclusive lock, so concurrent runs submit at most
        once). A live job with another spec is waited for (``wait_for_live_job_s``).
        Returns ``(handle, reattached)``."""
        if self.dry_run:
            files = self.render(spec, self.new_job_dir(spec, context.run.run_id))
            raise dg.Failure(f"dry run: wrote {', '.join(files)}; nothing was submitted",
                             metadata={"files": files}, allow_retries=False)
        registry = JobRegistry(expand(self.job_root), spec.name)
        started, next_note = time.monotonic(), 0.0
        while True:
            try:
                with registry.locked(self.submit_lock_timeout_s):
                    notes: list[str] = []  # logged at once, or with the periodic note while waiting
                    decision, record = registry.check(spec.fingerprint(), self._status_of, notes.append, self.reattach)
                    for note in notes if decision.action != "wait" else []:
                        context.log.warning(note)
                    handle = None
                    if decision.action == "reattach" and record is not None:
                        handle = record.handle
                        context.log.info(f"reattaching to {handle.backend} job {handle.job_id} recorded in "
                                         f"{registry.path} by run {record.run_id}: {decision.why}")
                    elif decision.action == "submit":
                        handle = self._try_reattach(context, spec)
                    if handle is not None or decision.action == "submit":
                        reattached = handle is not None
                        handle = handle or self._submit_new(context, spec, extras)
                        registry.write(handle, context.run.run_id)
                        context.instance.add_run_tags(context.run.run_id, {TAG_PREFIX + spec.name: handle.to_json()})
                        return handle, reattached
            except LockTimeout as exc:
                raise dg.Failure(f"{spec.name}: {exc} (another run is submitting this job name)") from exc
            waited = time.monotonic() - started
            if waited >= self.wait_for_live_job_s:
                h = record.handle if record else None
                raise dg.Failure(registry.gave_up(spec.name, record, decision.why, waited), metadata={} if h is None else {
                    "job_id": h.job_id, "job_dir": dg.MetadataValue.path(h.job_dir), "cancel": cancel_hint(h)})
            if time.monotonic() >= next_note:
                hint = f"; to stop it: {cancel_hint(record.handle)}" if record else ""
                for note in notes:
                    context.log.warning(note)
                context.log.warning(f"{spec.name}: {decision.why}; waiting for it to end before submitting "
                                    f"({waited:.0f}s of at most {self.wait_for_live_job_s:g}s){hint}")
                next_note = time.monotonic() + self.wait_log_interval_s
            time.sleep(max(0.0, min(self.poll_interval_s, self.wait_for_live_job_s - waited)))

    def _forward(self, handle: JobHandle, pos: int, until_eof: bool = False) -> int:
        """Copy new bytes of the job's log to stdout (at most 8 MiB per call unless ``until_eof``)."""
        return copy_new_bytes(handle.log_path, pos, sys.stdout, until_eof) if self.forward_logs else pos

    def _status(self, backend: Backend, handle: JobHandle, failing_since: list[float]) -> JobStatus | None:
        """The job's status, or None while the scheduler is unreachable (within the error budget)."""
        try:
            status = backend.status(handle)
        except SlurmError as exc:
            failing_since.append(time.monotonic())
            if failing_since[-1] - failing_since[0] > self.status_error_budget_s:
                raise dg.Failure(f"cannot reach the scheduler for {self.status_error_budget_s:.0f}s while watching "
                                 f"{handle.backend} job {handle.job_id} ({exc}); the job was left as it is: a retry "
                                 "of this run reattaches to it") from exc
            return None
        failing_since.clear()
        return status

    def watch(self, context: Context, handle: JobHandle, reattached: bool = False) -> ClusterRun:
        """Stream the job's Pipes messages into ``context`` until it ends; cancel it if the run is
        interrupted; ``dg.Failure`` unless it COMPLETED."""
        backend = self.get_backend(handle.backend)
        handler = dg.PipesMessageHandler(context, JobFileMessageReader(handle.messages_path))
        log_pos, last, failing_since = 0, None, []
        with handler.handle_messages() as reader_params:
            try:
                while True:
                    maybe = self._status(backend, handle, failing_since)
                    log_pos = self._forward(handle, log_pos)
                    if maybe is None:
                        time.sleep(self.poll_interval_s)
                        continue
                    status = maybe
                    if status.state != last:
                        context.log.info(f"{handle.backend} job {handle.job_id} ({handle.name}): {status.state}")
                        last = status.state
                    if status.terminal:
                        break
                    time.sleep(self.poll_interval_s)
                # the job has ended: give the reader time to see its last messages
                if handler.received_opened_message:  # opened but not closed yet: let the file catch up
                    grace = self.message_grace_s if status.ok else min(self.message_grace_s, 5.0)
                else:  # never opened (not a Pipes job, or it died first): a short look only
                    grace = min(self.message_grace_s, 2.0 if status.ok else 0.5)
                deadline = time.monotonic() + grace
                while not handler.received_closed_message and time.monotonic() < deadline:
                    time.sleep(0.1)
            except (dg.DagsterExecutionInterruptedError, KeyboardInterrupt):
                context.log.warning(f"run interrupted: cancelling {handle.backend} job {handle.job_id}")
                try:
                    backend.cancel(handle)
                except (SlurmError, OSError) as exc:
                    context.log.error(f"could not cancel job {handle.job_id}: {exc}; cancel it by hand")
                raise
        self._forward(handle, log_pos, until_eof=True)
        if not status.ok:
            raise failure_for(handle, status, self.log_tail_lines)
        if not handler.received_closed_message:
            context.log.warning(f"job {handle.job_id} completed without a Pipes 'closed' message "
                                f"(did it use `with open_dagster_pipes()`?); messages: {handle.messages_path}")
        try:
            with open(handle.path(PIPES_CONTEXT), encoding="utf-8") as f:
                ctx_data = json.load(f)
        except (OSError, ValueError):
            ctx_data = {}
        session = dg.PipesSession(context_data=ctx_data, message_handler=handler,
                                  context_injector_params={"path": handle.path(PIPES_CONTEXT)},
                                  message_reader_params=reader_params, context=context)
        return ClusterRun(handle, status, session, reattached=reattached)

    def run(self, context: Context, spec: JobSpec, extras: Mapping[str, Any] | None = None) -> ClusterRun:
        """Submit (or reattach to) ``spec`` and watch it to the end. In an asset body:
        ``return cluster.run(context, spec).get_materialize_result()``."""
        if self.dry_run:
            files = self.render(spec, self.new_job_dir(spec, context.run.run_id))
            context.log.info(f"dry run: wrote {', '.join(files)}; nothing submitted")
            return ClusterRun(None, dry_run=True, files=files)
        resubmits = 0
        while True:
            handle, reattached = self.submit(context, spec, extras)
            try:
                done = self.watch(context, handle, reattached)
            except JobEndedFailure as exc:
                if exc.status.state not in self.resubmit_on or resubmits >= self.max_resubmits:
                    raise
                resubmits += 1
                context.log.warning(f"{end_summary(handle, exc.status)}; submitting it again "
                                    f"({resubmits} of at most {self.max_resubmits}; log of the ended job: "
                                    f"{handle.log_path})")
                continue
            done.resubmits = resubmits
            return done


__all__ = ["SCRIPT", "TAG_PREFIX", "ClusterResource", "ClusterRun", "JobFileMessageReader", "JobSpec", "failure_for"]
