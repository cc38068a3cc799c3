"""How a stage is declared: its input records, its handler, its limits and its retry policy.

A handler receives one claimed record and returns a :class:`Result`: the record's business outcome,
the fields to set on it, and the records it produces. It never writes to the database itself; the
engine commits the result together with the record's status, fenced by the lease token.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leadpipe.config import Policy, Settings

if TYPE_CHECKING:  # the stage declarations are read by commands that never touch the database
    from sqlalchemy import ColumnElement, Connection, Table

Item = Mapping[str, Any]
"""A claimed record: its id, its attempts (this one included) and the fields its stage ``reads`` (a
stage that leaves ``reads`` unset gets every column but the engine's lease and timestamps); and what
the stage's ``context`` adds."""


class Permanent(Exception):
    """An error that no retry can mend (a malformed input, a 404): the item goes to ``dead`` at once."""


class RetryLater(Exception):
    """Try again after ``seconds`` (a 429 or 503 with Retry-After), without holding a worker slot."""

    def __init__(self, reason: str, seconds: float) -> None:
        super().__init__(reason)
        self.seconds = seconds


class PauseStage(Exception):
    """The stage cannot go on (a paid service is out of credits): pause it; this item waits, unburnt."""


@dataclass(frozen=True)
class Insert:
    """New records, ignored where their natural key already exists (fan-out is idempotent).

    Rows of a table that a stage consumes start ``pending`` or ``awaiting`` a person, as that stage's
    curation policy says for the row's ``category``. With ``link``, the one row's id (new or found by
    its natural key) is set in that column of the item (a business's ``domain_id``). ``refresh`` names
    the columns a row whose natural key exists gets anew (a place's facts found again); its status and
    curation are never among them.
    """

    table: Table
    rows: Sequence[Mapping[str, Any]]
    link: str | None = None
    refresh: tuple[str, ...] = ()


@dataclass(frozen=True)
class Update:
    """Fields to set on another record, by id (say, a domain's title found on its home page)."""

    table: Table
    id: int
    values: Mapping[str, Any]


@dataclass(slots=True)  # not frozen: one is made per item, and a frozen dataclass is slower to make
class Result:
    """What a handler hands back: the outcome, fields of the item itself, and its outputs."""

    outcome: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    outputs: Sequence[Insert | Update] = ()


@dataclass(frozen=True)
class Context:
    """What a handler may use besides its item."""

    stage: Stage
    settings: Settings
    worker_id: str
    resources: Mapping[str, Any] = field(default_factory=dict)


Handler = Callable[[Item, Context], Awaitable[Result]]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``min(cap, base * 2**(attempt-1)) * (1 + U[0, jitter])``."""

    base: float = 30.0
    cap: float = 6 * 3600.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        raw = min(self.cap, self.base * 2.0 ** max(0, attempt - 1))
        return raw * (1 + random.uniform(0, self.jitter))


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline, declared once.

    ``skip_when`` maps a reason to a condition on the input table (built from the settings, which may
    hold its budget): items matching it are never claimed, and the engine marks them ``skipped`` with
    that reason, so nothing waits for ever.
    ``missing_outputs`` is a condition naming done items whose downstream records never appeared.
    ``context`` adds to claimed items what their handler needs beyond their own row (a page's domain
    and its country), read in the claim's short transaction so handlers never touch the database.
    ``reads`` names the fields of its input records that the handler (and ``context``) read; a claim
    returns those, with ``id`` and ``attempts``, which the engine reads. ``None``: every field but
    the engine's own bookkeeping. Each field returned costs every claimed item its decoding.
    """

    name: str
    table: Table
    handler: Handler
    description: str = ""
    concurrency: int = 8
    batch_size: int = 50
    lease_seconds: float = 60.0
    max_runtime_seconds: float = 300.0
    max_attempts: int = 5
    backoff: Backoff = Backoff()
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    skip_when: Mapping[str, Callable[[Settings], ColumnElement[bool]]] = field(default_factory=dict)
    missing_outputs: Callable[[], ColumnElement[bool]] | None = None
    curation: Mapping[str, Policy] = field(default_factory=lambda: {"*": "auto"})
    context: Callable[[Connection, list[dict[str, Any]]], None] | None = None
    # A column: at most one item with the same value runs at a time (one page per domain), so a rule
    # about the group ("none once the domain has its contacts") sees each result before the next claim.
    one_at_a_time: str | None = None
    reads: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        unknown = [name for name in self.reads or () if name not in self.table.c]
        if unknown:
            raise ValueError(f"stage {self.name!r} reads {unknown}, which {self.table.name} does not have")

    def policy(self, category: str | None, settings: Settings) -> Policy:
        """Whether a new item of ``category`` goes forward on its own or waits for a person."""
        configured = settings.curation.get(self.name)
        rules: Mapping[str, Policy] = (
            {"*": configured} if isinstance(configured, str) else {**self.curation, **(configured or {})}
        )
        return rules.get(category or "*", rules.get("*", "auto"))

    def retryable(self, error: BaseException) -> bool:
        if isinstance(error, Permanent):
            return False
        return isinstance(error, self.retry_on)


Resources = Callable[[Settings], dict[str, Any]]
"""What a worker makes once and lends every handler (say, the web fetcher); closed at exit."""


class Pipeline:
    """The stage graph: every stage, by name and by the table it consumes, and the resources its
    handlers share."""

    def __init__(self, stages: Iterable[Stage], resources: Resources | None = None) -> None:
        self.resources: Resources = resources or (lambda settings: {})
        self.stages: dict[str, Stage] = {}
        self.by_table: dict[str, Stage] = {}
        for stage in stages:
            if stage.name in self.stages:
                raise ValueError(f"two stages are named {stage.name!r}")
            if stage.table.name in self.by_table:
                other = self.by_table[stage.table.name].name
                raise ValueError(f"stages {other!r} and {stage.name!r} both consume {stage.table.name}")
            self.stages[stage.name] = stage
            self.by_table[stage.table.name] = stage

    def __iter__(self) -> Any:
        return iter(self.stages.values())

    def __getitem__(self, name: str) -> Stage:
        try:
            return self.stages[name]
        except KeyError:
            known = ", ".join(self.stages) or "none"
            raise KeyError(f"no stage named {name!r} (stages: {known})") from None

    def select(self, names: Sequence[str] | None) -> list[Stage]:
        return [self[name] for name in names] if names else list(self.stages.values())
