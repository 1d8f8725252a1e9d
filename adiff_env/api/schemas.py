"""Request and response models of the service (pydantic v2, strict: unknown fields are 422).

Every number and length has a bound here (the hard ceiling, the default :class:`Clamps`); the
server's config may clamp lower at run time, and a request above gets a 422 naming the field.
A field left out (None) takes the model's or the command's own default, so no default is
repeated here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adiff_env.api.config import Clamps

C = Clamps()
SPEC_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(@v[1-9][0-9]{0,5})?$"  # NAME[@vK]; no paths
ENV_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9/._:-]{0,99}$"
AGENT_PATTERN = r"^[a-z][a-z0-9-]{0,30}(:[A-Za-z0-9._@-]{0,100})?$"  # KIND[:ARG]; no paths
Scope = Literal["generate", "adapt", "verdict", "admin"]
Finite = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """Every error: ``detail`` is a message, or for 422 a list of ``{loc, msg, type}``."""

    detail: str | list[dict[str, Any]]


# ---------------------------------------------------------------- generation: /v1/plan
class PlanRequest(Strict):
    """One plan from ``observation`` to ``goal`` (GoalEnv ``observation`` and ``desired_goal``).

    ``sampler``/``steps``/``candidates`` override the checkpoint's acting rules (its
    ``act.sampler``, ``act.sampler_steps``, ``act.n_samples``). ``seed``: reproducible plan (the
    request then runs in a batch of its own). ``reward``: guidance terms (not supported yet)."""

    model: str = Field(pattern=SPEC_PATTERN, description="trajectory-planner registry spec NAME[@vK]")
    env_id: str = Field(pattern=ENV_PATTERN, description="env id, e.g. adiff/PointMaze-UMaze-v0")
    observation: list[Finite] = Field(min_length=1, max_length=64)
    goal: list[Finite] = Field(min_length=1, max_length=16)
    sampler: Literal["ddim", "ddpm"] | None = None
    steps: int | None = Field(None, ge=1, le=C.max_sampler_steps)
    candidates: int | None = Field(None, ge=1, le=C.max_candidates)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    reward: dict[str, Annotated[float, Field(ge=-1e3, le=1e3, allow_inf_nan=False)]] | None = Field(
        None, max_length=8, description="reward-guidance weights by term name; not supported yet (422)")
    return_plan: bool = True


class PlanTimings(BaseModel):
    queue_ms: float
    sample_ms: float
    total_ms: float
    batch_size: int


class PlanResponse(BaseModel):
    model: str = Field(description="the pinned spec NAME@vK that planned")
    action: list[float]
    plan: list[list[float]] | None = Field(description="[H, A + O] unnormalized, actions first")
    steps_left: int = Field(description="goal index the plan was conditioned on")
    timings: PlanTimings


# ---------------------------------------------------------------- generation: code
class CodeGenerateRequest(Strict):
    """Programs for ``prompt`` from a coder checkpoint (``default`` = the shipped one).
    ``stream``: answer with server-sent events (one per denoising step, then the result)."""

    prompt: str = Field(min_length=1, max_length=C.max_prompt_chars)
    model: str = Field("default", pattern=SPEC_PATTERN)
    samples: int | None = Field(None, ge=1, le=C.max_code_samples)
    steps: int | None = Field(None, ge=1, le=C.max_code_steps)
    temperature: float | None = Field(None, ge=0.0, le=5.0)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    stream: bool = False


class CodeCandidate(BaseModel):
    program: str
    logp: float


class CodeGenerateResponse(BaseModel):
    model: str
    programs: list[CodeCandidate]
    sample_ms: float


class SandboxLimits(Strict):
    wall_s: float | None = Field(None, gt=0, le=C.max_sandbox_wall_s)
    memory_mb: int | None = Field(None, ge=16, le=C.max_sandbox_memory_mb)


class VerdictRequest(Strict):
    """Run ``program`` against ``tests`` (statements, usually asserts) or a suite's task
    (``suite`` + ``task_id``; its tests stay hidden: the verdict shows pass/fail only)."""

    program: str = Field(min_length=1, max_length=C.max_program_chars)
    tests: list[Annotated[str, Field(min_length=1, max_length=C.max_test_chars)]] | None = Field(
        None, min_length=1, max_length=C.max_tests)
    suite: str | None = Field(None, pattern=r"^(humaneval|procedural:[a-z0-9_-]{1,40}(:[0-9]{1,5}){0,2})$")
    task_id: str | None = Field(None, min_length=1, max_length=200)
    setup: str = Field("", max_length=C.max_program_chars)
    limits: SandboxLimits | None = None

    @model_validator(mode="after")
    def _one_source(self) -> VerdictRequest:
        if (self.tests is None) == (self.task_id is None):
            raise ValueError("give either tests or suite + task_id, not both and not neither")
        if self.task_id is not None and self.suite is None:
            raise ValueError("task_id needs suite, e.g. 'procedural:test' or 'humaneval'")
        return self


class TestVerdict(BaseModel):
    __test__ = False
    index: int
    passed: bool
    error_type: str | None
    message: str


class VerdictResponse(BaseModel):
    tests: list[TestVerdict]
    passed: int
    total: int
    pass_rate: float
    all_passed: bool
    compiled: bool
    timed_out: bool
    oom: bool
    rejected: str | None
    error: str | None
    wall_s: float
    program_sha256: str
    stdout: str
    stderr: str


# ---------------------------------------------------------------- adaptation: jobs
class EvaluateJob(Strict):
    """``adiff evaluate ENV --agent AGENT --episodes N --seed S --json``."""

    kind: Literal["evaluate"]
    env_id: str = Field(pattern=ENV_PATTERN)
    agent: str = Field(pattern=AGENT_PATTERN)
    episodes: int | None = Field(None, ge=1, le=C.max_eval_episodes)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class EvolveJob(Strict):
    """``adiff evolve ENV --from planner:BASE ...`` (resumable after each round)."""

    kind: Literal["evolve"]
    env_id: str = Field(pattern=ENV_PATTERN)
    base: str = Field(pattern=SPEC_PATTERN, description="base planner NAME[@vK]")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    rounds: int | None = Field(None, ge=1, le=C.max_evolve_rounds)
    samples: int | None = Field(None, ge=1, le=1024)
    candidates: int | None = Field(None, ge=1, le=C.max_candidates)
    finetune_steps: int | None = Field(None, ge=1, le=C.max_train_steps)
    eval_episodes: int | None = Field(None, ge=1, le=C.max_eval_episodes)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class TrainJob(Strict):
    """``adiff train ENV --preset PRESET ...`` (resumable from its last checkpoint)."""

    kind: Literal["train"]
    env_id: str = Field(pattern=ENV_PATTERN)
    preset: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description="preset name (no paths)")
    dataset: str | None = Field(None, pattern=ENV_PATTERN)
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    steps: int | None = Field(None, ge=1, le=C.max_train_steps)
    batch_size: int | None = Field(None, ge=1, le=4096)
    eval_every: int | None = Field(None, ge=0, le=C.max_train_steps)
    eval_episodes: int | None = Field(None, ge=1, le=C.max_eval_episodes)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


JobRequest = Annotated[EvaluateJob | EvolveJob | TrainJob, Field(discriminator="kind")]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobResponse(BaseModel):
    id: str
    kind: str
    status: JobStatus
    params: dict[str, Any]
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    error: str | None
    result: Any = None
    artifacts: list[str]


class Artifact(BaseModel):
    name: str
    bytes: int


# ---------------------------------------------------------------- control
class ModelSummary(BaseModel):
    name: str
    versions: list[int]


class ModelVersion(BaseModel):
    spec: str
    kind: str
    env: str | None
    dataset: str | None
    created_at: str | None
    parent: str | None
    scores: dict[str, Any]


class Health(BaseModel):
    status: Literal["ok"]


class Check(BaseModel):
    ok: bool
    detail: str


class Ready(BaseModel):
    ready: bool
    checks: dict[str, Check]


class KeyCreate(Strict):
    scopes: list[Scope] = Field(min_length=1, max_length=4)
    name: str | None = Field(None, max_length=100)


class KeyCreated(BaseModel):
    id: str
    key: str = Field(description="shown once; only its hash is stored")
    scopes: list[str]
    name: str | None


class KeyInfo(BaseModel):
    id: str
    scopes: list[str]
    name: str | None
    created_at: float
    revoked_at: float | None


class AuditRow(BaseModel):
    id: int
    time: float
    request_id: str
    key_id: str | None
    method: str
    route: str
    status: int
    latency_ms: float
    detail: str | None


class LimitsModel(BaseModel):
    """The live :class:`~adiff_env.api.config.RuntimeLimits`."""

    rate_per_s: float
    burst: int
    max_concurrent: int
    plan_queue_cap: int
    max_batch: int
    max_wait_ms: float


class LimitsUpdate(Strict):
    """Fields to change (others stay)."""

    rate_per_s: float | None = Field(None, gt=0, le=1e6)
    burst: int | None = Field(None, ge=1, le=1_000_000)
    max_concurrent: int | None = Field(None, ge=1, le=100_000)
    plan_queue_cap: int | None = Field(None, ge=1, le=100_000)
    max_batch: int | None = Field(None, ge=1, le=1024)
    max_wait_ms: float | None = Field(None, ge=0, le=1000)
