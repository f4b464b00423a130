"""What a cluster job is (``JobSpec``), how one is referred to (``JobHandle``) and where it stands
(``JobStatus``), shared by every backend. No Dagster import: this runs on cluster nodes too."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Self, TextIO

from pydantic import BaseModel, ConfigDict, Field, field_validator

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MEM = re.compile(r"^\d+[KMGT]?$")
_TIME = re.compile(r"^(\d+-)?\d{1,2}(:\d{2}){0,2}$|^\d+$")

# files inside a job directory
SCRIPT = "job.sbatch"
LAUNCH = "launch.json"
LOG = "job.log"
DS_CONFIG = "ds_config.json"
PIPES_CONTEXT = "pipes_context.json"
PIPES_MESSAGES = "pipes_messages.jsonl"
EXIT_CODE = "exit_code.json"


class CompanionSpec(BaseModel):
    """Processes beside a job's main command, on nodes of their own (RL's rollout engines).

    Slurm: the second component of a heterogeneous job (``srun --het-group=1``, started first, in
    the background; stopped when the main command ends). Local backend: ``tasks_per_node`` processes
    of the job's process group (cancel stops them with the rest). Both export ``MIMO_COMPANION_DIR``
    (a directory of the job where companions announce themselves) and, when ``secret_env`` is set,
    a fresh random secret under that name to both sides. A task finds its index in ``MIMO_TASK_ID``
    (local) or ``SLURM_PROCID`` (srun).
    """

    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(min_length=1)
    nodes: int = Field(1, ge=1)
    tasks_per_node: int = Field(1, ge=1)
    gpus_per_node: int = Field(0, ge=0)
    cpus_per_task: int | None = Field(None, ge=1)
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: str | None = None

    @property
    def tasks(self) -> int:
        return self.nodes * self.tasks_per_node


COMPANION_DIR = "companion"


class JobSpec(BaseModel):
    """A command to run on the cluster, with the resources it needs.

    ``command`` is an argv (use :meth:`python_module` for ``python -m ...`` with the current
    interpreter). With more than one process per job, ``launcher="auto"`` wraps it in
    ``torch.distributed.run`` (torchrun); ``none`` runs it as is (once per node under Slurm).
    ``partition``/``account``/``qos``/``time_limit`` left unset take the cluster resource's defaults.
    ``deepspeed`` (a config dict, see :mod:`mimo.cluster.deepspeed`) is written to ``ds_config.json``
    in the job directory and its path exported as ``MIMO_DEEPSPEED_CONFIG``.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    workdir: str | None = None
    nodes: int = Field(1, ge=1)
    gpus_per_node: int = Field(0, ge=0)
    procs_per_node: int | None = Field(None, ge=1)  # default: gpus_per_node, or 1 without GPUs
    launcher: Literal["auto", "none", "torchrun"] = "auto"
    python: str | None = None  # interpreter that runs torchrun; default: the submitting one
    cpus_per_task: int | None = Field(None, ge=1)
    mem: str | None = None  # per node, sbatch syntax: 64G, 500000M
    time_limit: str | None = None  # sbatch syntax: minutes, HH:MM:SS, D-HH:MM:SS
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    exclusive: bool = False
    setup: list[str] = Field(default_factory=list)  # shell lines run first (module load, source venv)
    srun: bool | None = None  # Slurm: launch through srun (default: when nodes > 1 or a container is set)
    container_image: str | None = None  # Slurm: pyxis/enroot image for srun
    container_mounts: list[str] = Field(default_factory=list)
    master_port: int = 29500
    deepspeed: dict[str, Any] | None = None
    companion: CompanionSpec | None = None  # e.g. RL's rollout engines on nodes of their own

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"job name {v!r}: use letters, digits, '_', '.', '-' (at most 64, no leading symbol)")
        return v

    @field_validator("mem")
    @classmethod
    def _mem(cls, v: str | None) -> str | None:
        if v is not None and not _MEM.match(v):
            raise ValueError(f"mem {v!r}: expected a number with an optional K/M/G/T suffix, e.g. 64G")
        return v

    @field_validator("time_limit")
    @classmethod
    def _time(cls, v: str | None) -> str | None:
        if v is not None and not _TIME.match(v):
            raise ValueError(f"time_limit {v!r}: expected minutes, HH:MM:SS or D-HH:MM:SS")
        return v

    @classmethod
    def python_module(cls, name: str, module: str, args: list[str] | None = None, **kw: Any) -> JobSpec:
        """``python -m module args`` with the interpreter running this code (the project's venv)."""
        return cls(name=name, command=[sys.executable, "-m", module, *(args or [])], **kw)

    @property
    def nprocs_per_node(self) -> int:
        return self.procs_per_node or max(self.gpus_per_node, 1)

    @property
    def world_size(self) -> int:
        return self.nodes * self.nprocs_per_node

    @property
    def uses_torchrun(self) -> bool:
        return self.launcher == "torchrun" or (self.launcher == "auto" and self.nprocs_per_node > 1)

    def fingerprint(self) -> str:
        """Stable hash of everything that defines the job (a retry reattaches only if it matches)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def command_line(self) -> str:
        return shlex.join(self.command)


def time_limit_seconds(limit: str | None) -> float | None:
    """Seconds of an sbatch time limit (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM[:SS]``);
    None when unset."""
    if limit is None:
        return None
    if not _TIME.match(limit):
        raise ValueError(f"time_limit {limit!r}: expected minutes, HH:MM:SS or D-HH:MM:SS")
    days, _, rest = limit.rpartition("-")
    parts = [int(x) for x in rest.split(":")]
    if days:  # D-HH, D-HH:MM, D-HH:MM:SS
        parts += [0] * (3 - len(parts))
        h, m, s = parts
        return float(int(days) * 86400 + h * 3600 + m * 60 + s)
    if len(parts) == 1:  # minutes
        return float(parts[0] * 60)
    if len(parts) == 2:  # minutes:seconds
        return float(parts[0] * 60 + parts[1])
    h, m, s = parts
    return float(h * 3600 + m * 60 + s)


@dataclass
class JobStatus:
    """Where a job stands. ``state`` uses Slurm's names (PENDING, RUNNING, COMPLETED, FAILED,
    CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ...) for every backend; UNKNOWN when the
    scheduler no longer knows the job."""

    state: str
    exit_code: str | None = None  # "rc:signal" as Slurm prints it
    reason: str | None = None
    raw: dict[str, str] = field(default_factory=dict)

    ACTIVE = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
                        "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED"})

    @property
    def active(self) -> bool:
        return self.state in self.ACTIVE

    @property
    def terminal(self) -> bool:
        return not self.active

    @property
    def ok(self) -> bool:
        return self.state == "COMPLETED"


@dataclass
class JobHandle:
    """A submitted (or rendered) job: enough to find it again from another process or run."""

    backend: str
    job_id: str
    job_dir: str
    name: str
    fingerprint: str

    def path(self, filename: str) -> str:
        return os.path.join(self.job_dir, filename)

    @property
    def log_path(self) -> str:
        return self.path(LOG)

    @property
    def messages_path(self) -> str:
        return self.path(PIPES_MESSAGES)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobHandle:
        return cls(**json.loads(text))


def launch_command(spec: JobSpec, rdzv: list[str]) -> list[str]:
    """The argv that starts the job's processes on one node: the command itself, or torchrun
    (``python -m torch.distributed.run``) with the given rendezvous arguments around it."""
    if not spec.uses_torchrun:
        return list(spec.command)
    python = spec.python or sys.executable
    return [python, "-m", "torch.distributed.run", *rdzv, f"--nproc_per_node={spec.nprocs_per_node}",
            "--no-python", *spec.command]


def tail_lines(path: str, n: int = 50, max_bytes: int = 256 * 1024) -> str:
    """The last ``n`` lines of a text file ('' when it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-n:])


_END_HINTS = {
    "FAILED": "the job's command exited with an error",
    "CANCELLED": "the job was cancelled (scancel by a user or admin, or the Dagster run was cancelled)",
    "TIMEOUT": "the job hit its time limit",
    "OUT_OF_MEMORY": "the job ran out of memory",
    "NODE_FAIL": "a node of the job failed",
    "PREEMPTED": "the job was preempted",
    "BOOT_FAIL": "a node failed to boot",
    "DEADLINE": "the job missed its deadline",
    "UNKNOWN": "the scheduler no longer knows the job",
}


def end_summary(handle: JobHandle, status: JobStatus) -> str:
    """``<backend> job <id> (<name>) ended <STATE>: <what that means>; exit code X; reason Y``."""
    hint = _END_HINTS.get(status.state, "the job did not complete")
    limit = status.raw.get("TimeLimit")
    if status.state == "TIMEOUT" and limit:
        hint += f" ({limit})"
    parts = [f"{handle.backend} job {handle.job_id} ({handle.name}) ended {status.state}: {hint}"]
    if status.exit_code:
        parts.append(f"exit code {status.exit_code}")
    if status.reason:
        parts.append(f"reason {status.reason}")
    return "; ".join(parts)


def copy_new_bytes(path: str, pos: int, out: TextIO, until_eof: bool = False) -> int:
    """Copy the bytes of ``path`` after ``pos`` to ``out`` (at most 8 MiB unless ``until_eof``); the new position."""
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read(8 * 2**20)
        except OSError:
            return pos
        if data:
            out.write(data.decode("utf-8", "replace"))
            out.flush()
        pos += len(data)
        if not until_eof or not data:
            return pos


def write_text_atomic(path: str, text: str, mode: int = 0o644) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class _NoPipes:
    """Stand-in for a Pipes context on ranks other than 0: data attributes are empty, every
    method (``log.info``, ``report_custom_message``, ...) is a no-op."""

    extras: Mapping[str, Any] = MappingProxyType({})
    partition_key = asset_key = run_id = job_name = None
    partition_keys: tuple[str, ...] = ()
    asset_keys: tuple[str, ...] = ()
    is_asset_step = is_partition_step = False
    retry_number = 0

    def __getattr__(self, name: str) -> _NoPipes:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> _NoPipes:
        return self

    def __iter__(self) -> Any:
        return iter(())

    def get_extra(self, key: str) -> None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False


def pipes_reporter(pipes: Any, stage: str) -> Any:
    """A training loop's ``report(event, payload)``: every event printed to the job log; ``metrics``
    as Pipes custom messages, ``warning`` as Pipes warnings, everything else as Pipes log lines."""
    def report(event: str, payload: dict) -> None:
        print(f"[{stage}] {event} {json.dumps(payload)}", flush=True)
        if event == "metrics":
            pipes.report_custom_message(payload)
        elif event == "warning":
            pipes.log.warning(payload.get("message", json.dumps(payload)))
        else:
            pipes.log.info(payload.get("message", json.dumps(payload)))
    return report


def global_rank() -> int:
    """This process's global rank: ``RANK`` (torchrun), else ``SLURM_PROCID`` (srun), else 0."""
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")) or 0)


def open_job_pipes() -> Any:
    """``dagster_pipes.open_dagster_pipes()`` on global rank 0, a no-op context on other ranks.

    Use it in training entrypoints: ``with open_job_pipes() as pipes: pipes.log.info(...)``. Outside
    Dagster it degrades to a no-op like ``open_dagster_pipes`` (which warns once).
    """
    if global_rank() != 0:
        return _NoPipes()
    from dagster_pipes import open_dagster_pipes

    return open_dagster_pipes()


def prepare_job_dir(spec: JobSpec, job_dir: str) -> dict[str, str]:
    """Create the job directory, write ``ds_config.json`` when the spec has one, and return the
    environment every backend exports to the job (the spec's env plus ``MIMO_JOB_DIR`` and
    ``MIMO_DEEPSPEED_CONFIG``)."""
    os.makedirs(job_dir, exist_ok=True)
    env = dict(spec.env)
    env["MIMO_JOB_DIR"] = job_dir
    env["MIMO_JOB_NAME"] = spec.name
    if spec.companion is not None:
        env["MIMO_COMPANION_DIR"] = os.path.join(job_dir, COMPANION_DIR)
        os.makedirs(env["MIMO_COMPANION_DIR"], exist_ok=True)
    if spec.deepspeed is not None:
        path = os.path.join(job_dir, DS_CONFIG)
        write_text_atomic(path, json.dumps(spec.deepspeed, indent=2, sort_keys=True) + "\n")
        env["MIMO_DEEPSPEED_CONFIG"] = path
    return env
