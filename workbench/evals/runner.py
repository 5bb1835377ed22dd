"""Run a suite against its targets: every case, every target, ``repeat`` times.

- A local model is loaded once per run (its first answer loads it) and closed when its cases
  are done; local targets run one after another, each checked against free memory with the
  planner first (a model that cannot fit is skipped with the plan's figures, not crashed on).
- Cloud targets run at the same time as the local ones, at most ``concurrency`` requests in
  flight, with the providers' own retry and rate-limit handling.
- Offline mode skips every target (and judge) that would send a prompt off this machine, with a
  reason, and runs the rest.
- Every graded answer is stored at once (store.py); ``run_id`` resumes a run, asking only the
  (case, target, repeat) triples it does not have. A cancelled answer is not stored.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.cancel import CancelToken
from workbench.costs.answer_cost import price_answer
from workbench.costs.pricing import PricingTable, load_pricing
from workbench.errors import BadInput, WorkbenchError
from workbench.evals import store
from workbench.evals.assertions import MODEL_GRADED, NO_JUDGE, grade, outcome
from workbench.evals.model import Case, CaseResult, Suite, Verdict
from workbench.evals.templating import render
from workbench.net.offline import is_offline
from workbench.providers.base import AnswerResult, Message, Params, Target
from workbench.providers.local import LocalTarget
from workbench.routing.target import RouterTarget
from workbench.store import db
from workbench.store.settings import AppSettings

MAX_CONCURRENCY = 32


@dataclass(frozen=True)
class RunOptions:
    targets: tuple[str, ...] = ()  # target specs as given (-t); () = the suite's targets
    repeat: int = 1
    temperature: float | None = None
    max_tokens: int = 256
    judge: str | None = None  # a target spec; None = the suite's, else the first local target
    concurrency: int = 4  # cloud requests in flight at once

    def __post_init__(self) -> None:
        if self.repeat < 1 or self.repeat > 1000:
            raise BadInput("--repeat must be between 1 and 1000")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise BadInput(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
        Params(max_tokens=self.max_tokens, temperature=self.temperature)  # checks both

    @property
    def params(self) -> Params:
        return Params(max_tokens=self.max_tokens, temperature=self.temperature)

    def stored(self) -> store.StoredOptions:
        return store.StoredOptions(self.targets, self.repeat, self.temperature,
                                   self.max_tokens, self.judge, self.concurrency)

    @classmethod
    def from_stored(cls, stored: store.StoredOptions) -> RunOptions:
        return cls(stored.targets, stored.repeat, stored.temperature, stored.max_tokens,
                   stored.judge, stored.concurrency)


@dataclass(frozen=True)
class EvalEvent:
    kind: str  # "status" | "result" | "skipped" | "done"
    done: int
    total: int
    eta_s: float | None
    target: str | None = None
    message: str = ""
    result: CaseResult | None = None


EventCallback = Callable[[EvalEvent], None]


@dataclass
class RunOutcome:
    run_id: int
    suite: Suite
    targets: list[str]  # as given (labels): what results are keyed by
    results: list[CaseResult]
    skipped: dict[str, str] = field(default_factory=dict)
    complete: bool = False
    cancelled: bool = False
    judge: str | None = None
    judge_usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Planned:
    label: str  # what results are keyed by
    spec: str  # what the target is built from


TargetBuilder = Callable[[str], Target]


def suite_needs_judge(suite: Suite) -> bool:
    return any(a.type in MODEL_GRADED for case in suite.cases for a in case.assertions)


def render_messages(case: Case) -> list[Message]:
    """The case's prompt with its vars filled in."""
    return [{"role": role, "content": render(text, case.vars)}
            for role, text in case.prompt.messages]


def _question(messages: Sequence[Message]) -> str:
    users = [str(m["content"]) for m in messages if m["role"] == "user"]
    return users[-1] if users else ""


def local_fit_problem(target: LocalTarget) -> str | None:
    """Why the model cannot fit in free memory now (the planner's figures), or None."""
    import psutil

    from workbench.gguf import read_adapter, read_header
    from workbench.planner import estimate_memory
    from workbench.present.numbers import format_bytes

    load = target.load_settings
    try:
        plan = estimate_memory(read_header(target.model_path), n_ctx=load.n_ctx or 4096,
                               n_gpu_layers=load.n_gpu_layers,
                               kv_type=load.kv_type,
                               loras=[(read_adapter(path), scale) for path, scale in load.loras])
    except WorkbenchError as err:
        return f"cannot be planned: {err}"
    except Exception:  # an architecture the planner does not know: llama.cpp decides
        return None
    free = psutil.virtual_memory().available
    if load.n_gpu_layers == 0 and plan.cpu_bytes > free:
        return (f"needs {format_bytes(plan.cpu_bytes)} of RAM, {format_bytes(free)} is free "
                "(close other models or lower the context)")
    return None


class EvalRunner:
    """One run of ``suite``; ``run()`` blocks, events arrive on the runner's threads."""

    def __init__(self, suite: Suite, options: RunOptions | None = None, *,
                 run_id: int | None = None, on_event: EventCallback | None = None,
                 settings: AppSettings | None = None, pricing: PricingTable | None = None,
                 build: TargetBuilder | None = None, database: Path | None = None) -> None:
        self.suite = suite
        self.options = options or RunOptions()
        self.run_id = run_id
        self.on_event = on_event
        self.settings = settings or AppSettings()
        self.pricing = pricing
        self._build = build
        self._database = database
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[Any] = []
        self.results: list[CaseResult] = []
        self.skipped: dict[str, str] = {}
        self._done = 0
        self._total = 0
        self._asked = 0
        self._started = 0.0
        if not suite.cases:
            raise BadInput("the suite has no cases")

    # -- plumbing ------------------------------------------------------------------------------
    def _db(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = db.connect(self._database)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _emit(self, kind: str, *, target: str | None = None, message: str = "",
              result: CaseResult | None = None) -> None:
        if self.on_event is None:
            return
        with self._lock:
            done, total, asked = self._done, self._total, self._asked
        eta = None
        elapsed = time.monotonic() - self._started
        if asked and done < total:
            eta = elapsed / asked * (total - done)
        with contextlib.suppress(Exception):  # a broken listener must not end the run
            self.on_event(EvalEvent(kind, done, total, eta, target, message, result))

    def _make_target(self, spec: str) -> Target:
        if self._build is not None:
            return self._build(spec)
        from workbench.hub.library import record_use
        from workbench.routing.targets import build_any_target

        return build_any_target(spec, settings=self.settings, on_model_used=record_use,
                                load_run=run_document)

    # -- the run -------------------------------------------------------------------------------
    def _plan_targets(self) -> list[_Planned]:
        if self.options.targets:
            planned = [_Planned(spec, spec) for spec in self.options.targets]
        else:
            planned = [_Planned(t.label, t.spec) for t in self.suite.targets]
        if not planned:
            raise BadInput("no targets: give -t TARGET (e.g. -t local:model.gguf) or list "
                           "providers in the suite")
        labels = [p.label for p in planned]
        dupes = sorted({label for label in labels if labels.count(label) > 1})
        if dupes:
            raise BadInput(f"the same target is given twice: {', '.join(dupes)}")
        return planned

    def _open_run(self, planned: list[_Planned], judge: str | None) -> set[tuple[str, str, int]]:
        connection = self._db()
        if self.run_id is None:
            self.run_id = store.create_run(
                connection, description=self.suite.description, suite_path=self.suite.path,
                suite_sha256=self.suite.sha256, suite_text=self.suite.text,
                options=self.options.stored(), targets=[(p.label, p.spec) for p in planned],
                total=self._total, judge=judge)
            return set()
        row = store.get_run(connection, self.run_id)
        if row.suite_sha256 != self.suite.sha256:
            raise BadInput(f"the suite changed since run {self.run_id} was started (its files "
                           "differ): start a new run instead of resuming")
        store.mark_running(connection, self.run_id)
        self.results = store.load_results(connection, self.run_id)
        return store.answered_keys(connection, self.run_id)

    def _judge_spec(self, planned: list[_Planned]) -> str | None:
        if not suite_needs_judge(self.suite):
            return None
        if self.options.judge:
            return self.options.judge
        if self.suite.judge:
            return self.suite.judge
        local = [p.spec for p in planned if p.spec.startswith("local:")]
        plain = [spec for spec in local if "+lora:" not in spec]  # the base over an adapter
        return (plain or local)[0] if local else None

    def run(self, cancel: CancelToken | None = None) -> RunOutcome:
        cancel = cancel or CancelToken()
        planned = self._plan_targets()
        judge_spec = self._judge_spec(planned)
        cases = self.suite.cases
        self._total = len(cases) * len(planned) * self.options.repeat
        self._started = time.monotonic()
        done_keys = self._open_run(planned, judge_spec)
        assert self.run_id is not None
        self._done = len(done_keys)
        if self.pricing is None:
            self.pricing = load_pricing(overrides=self.settings.pricing_overrides)
        built: dict[str, Target] = {}
        judge = None
        try:
            for p in planned:
                try:
                    target = self._make_target(p.spec)
                except WorkbenchError as err:
                    self._skip(p.label, str(err))
                    continue
                if target.leaves_machine and is_offline():
                    target.close()
                    self._skip(p.label, f"offline mode: {target.label} would send the prompts "
                               f"to {target.destination}")
                    continue
                built[p.label] = target
            judge = self._make_judge(judge_spec, built, planned)
            todo = {p.label: [(case, repeat) for case in cases
                              for repeat in range(self.options.repeat)
                              if (case.id, p.label, repeat) not in done_keys]
                    for p in planned if p.label in built}
            local = [label for label in todo if not built[label].leaves_machine]
            cloud = [label for label in todo if built[label].leaves_machine]
            cloud_thread = threading.Thread(
                target=self._run_cloud, args=(cloud, todo, built, judge, cancel),
                name="eval-cloud", daemon=True)
            cloud_thread.start()
            for label in local:
                target = built[label]
                if isinstance(target, LocalTarget):
                    problem = local_fit_problem(target)
                    if problem:
                        self._skip(label, f"{target.label} {problem}")
                        continue
                for case, repeat in todo[label]:
                    if cancel.cancelled:
                        break
                    self._ask(label, target, case, repeat, judge, cancel)
                if judge is None or not judge.uses(target):
                    target.close()  # frees its memory for the next local model
            while cloud_thread.is_alive():
                cloud_thread.join(0.2)
        finally:
            for target in built.values():
                target.close()
            if judge is not None:
                judge.close()
        return self._finish(planned, judge_spec, judge, cancel)

    def _finish(self, planned: list[_Planned], judge_spec: str | None, judge: Any,
                cancel: CancelToken) -> RunOutcome:
        assert self.run_id is not None
        keys = {(r.case_id, r.target, r.repeat) for r in self.results}
        complete = len(keys) >= self._total
        status = store.COMPLETE if complete else (
            store.CANCELLED if cancel.cancelled else store.INCOMPLETE)
        usage = dict(judge.usage) if judge is not None else {}
        store.finish_run(self._db(), self.run_id, status=status, judge_usage=usage,
                         skipped=self.skipped)
        for connection in self._connections:
            with contextlib.suppress(Exception):
                connection.close()
        self._connections.clear()
        self._emit("done", message=status)
        order = {(c.id, i): n for n, c in enumerate(self.suite.cases)
                 for i in range(self.options.repeat)}
        labels = [p.label for p in planned]
        results = sorted(self.results, key=lambda r: (
            labels.index(r.target) if r.target in labels else len(labels),
            order.get((r.case_id, r.repeat), 0), r.repeat))
        return RunOutcome(self.run_id, self.suite, labels, results, dict(self.skipped),
                          complete, cancel.cancelled and not complete, judge_spec, usage)

    def _skip(self, label: str, reason: str) -> None:
        with self._lock:
            self.skipped[label] = reason
        self._emit("skipped", target=label, message=reason)

    def _make_judge(self, spec: str | None, built: dict[str, Target],
                    planned: list[_Planned]) -> JudgePanel | None:
        """The run's judges: ``spec`` for every model-graded assertion, except those that name
        their own (``provider`` on the assertion or ``options.provider`` on its test)."""
        own = {a.provider for case in self.suite.cases for a in case.assertions
               if a.type in MODEL_GRADED and a.provider}
        if spec is None and not own:
            return None
        shared = {p.spec: built[p.label] for p in planned if p.label in built}
        return JudgePanel(spec, lambda judge_spec: self._judge(judge_spec, shared))

    def _judge(self, spec: str, shared: dict[str, Target]) -> tuple[Any, Target | None]:
        """One judge, and the target it owns (closed with the run); a judge that is also a
        target shares that target's loaded model."""
        from workbench.evals.judge import Judge

        if spec in shared:
            judge = Judge(shared[spec], spec=spec, pricing=self.pricing, settings=self.settings)
            return judge, None
        try:
            target = self._make_target(spec)
        except WorkbenchError as err:
            reason = f"the judge {spec} is unavailable: {err}"
            self._emit("status", message=reason)
            return _UnavailableJudge(spec, reason), None
        if target.leaves_machine and is_offline():
            target.close()
            reason = (f"offline mode: the judge {target.label} would send the answers to "
                      f"{target.destination}")
            self._emit("status", message=reason)
            return _UnavailableJudge(spec, reason), None
        return Judge(target, spec=spec, pricing=self.pricing, settings=self.settings), target

    def _run_cloud(self, labels: list[str], todo: dict[str, list[tuple[Case, int]]],
                   built: dict[str, Target], judge: Any, cancel: CancelToken) -> None:
        if not labels:
            return
        with ThreadPoolExecutor(max_workers=self.options.concurrency,
                                thread_name_prefix="eval-cloud") as pool:
            futures = [pool.submit(self._ask, label, built[label], case, repeat, judge, cancel)
                       for label in labels for case, repeat in todo[label]]
            for future in futures:
                with contextlib.suppress(Exception):
                    future.result()

    def _ask(self, label: str, target: Target, case: Case, repeat: int, judge: Any,
             cancel: CancelToken) -> None:
        if cancel.cancelled:
            return
        with self._lock:
            self._asked += 1
        messages = render_messages(case)
        params = self.options.params
        # a router decides by the request's tags: a case's tags are its request's
        if isinstance(target, RouterTarget):
            answer = target.stream(messages, params, cancel=cancel, tags=case.tags)
        else:
            answer = target.stream(messages, params, cancel=cancel)
        if answer.finish_reason == "cancelled" or cancel.cancelled:
            return  # asked again on --resume
        self._price(answer)
        result = grade_answer(case, label, repeat, answer, judge, _question(messages))
        store.save_result(self._db(), self.run_id or 0, result)
        with self._lock:
            self.results.append(result)
            self._done += 1
        self._emit("result", target=label, result=result)

    def _price(self, answer: AnswerResult) -> None:
        if self.pricing is None:
            return
        try:
            price_answer(answer, self.pricing, self.settings)
        except Exception as err:  # pricing must never lose the answer
            answer.cost_note = f"could not price: {err}"


def grade_answer(case: Case, label: str, repeat: int, answer: AnswerResult, judge: Any,
                 question: str) -> CaseResult:
    """The CaseResult of one answer: the target's error, or its verdicts and outcome."""
    if answer.error:
        return CaseResult(case.id, label, repeat, answer, [], None, None, answer.error)
    try:
        verdicts = grade(case, answer, grader=judge, question=question)
    except Exception as err:  # grading must never lose the answer
        return CaseResult(case.id, label, repeat, answer, [], None, None,
                          f"grading failed: {type(err).__name__}: {err}")
    passed, score = outcome(verdicts, case)
    error = None
    if passed is None:
        error = next((v.error for v in verdicts if v.error), "a verdict could not be decided")
    return CaseResult(case.id, label, repeat, answer, verdicts, passed, score, error)


class JudgePanel:
    """The Grader a run hands to the assertions: the run's judge, or the one an assertion names,
    each built the first time it is needed and kept for the run."""

    def __init__(self, default: str | None,
                 make: Callable[[str], tuple[Any, Target | None]]) -> None:
        self.default = default
        self._make = make
        self._judges: dict[str, Any] = {}
        self._owned: list[Target] = []
        self._lock = threading.Lock()

    def _get(self, spec: str) -> Any:
        with self._lock:
            if spec not in self._judges:
                judge, owned = self._make(spec)
                self._judges[spec] = judge
                if owned is not None:
                    self._owned.append(owned)
            return self._judges[spec]

    def grade(self, assertion: Any, *, output: str, question: str,
              vars: dict[str, Any]) -> Verdict:
        spec = assertion.provider or self.default
        if spec is None:
            return Verdict(assertion.written_type, False, 0.0, NO_JUDGE, assertion.weight,
                           assertion.metric, error=NO_JUDGE)
        verdict: Verdict = self._get(spec).grade(assertion, output=output, question=question,
                                                 vars=vars)
        return verdict

    def uses(self, target: Target) -> bool:
        """Whether some judge answers through ``target`` (then it stays loaded)."""
        with self._lock:
            return any(getattr(j, "target", None) is target for j in self._judges.values())

    @property
    def usage(self) -> dict[str, Any]:
        """The judges' usage, summed; ``by_judge`` keeps each one's."""
        with self._lock:
            judges = dict(self._judges)
        by_judge = {spec: dict(j.usage) for spec, j in judges.items()}
        total: dict[str, Any] = {}
        for usage in by_judge.values():
            for key, value in usage.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    total[key] = (total.get(key) or 0) + value
        return {**total, "by_judge": by_judge} if by_judge else {}

    def close(self) -> None:
        with self._lock:
            owned, self._owned = self._owned, []
        for target in owned:
            target.close()


class _UnavailableJudge:
    """A judge that could not be built (no key, offline): every model-graded verdict says why."""

    def __init__(self, spec: str, reason: str) -> None:
        self.spec = spec
        self.reason = reason
        self.usage: dict[str, Any] = {"calls": 0, "unavailable": reason}

    def grade(self, assertion: Any, *, output: str, question: str,
              vars: dict[str, Any]) -> Verdict:
        return Verdict(assertion.written_type, False, 0.0, self.reason, assertion.weight,
                       assertion.metric, error=self.reason)


def resume_suite(row: store.RunRow, *, strict: bool = True) -> Suite:
    """The suite of a stored run: read again from its file, else from the text stored with the
    run. ``strict`` (resuming): a suite that changed is refused by the runner (SHA-256);
    otherwise (showing a run) the stored text wins over a file that changed since."""
    from workbench.evals.suite import load_suite, parse_suite

    if row.suite_path and Path(row.suite_path).is_file():
        try:
            suite = load_suite(row.suite_path)
        except WorkbenchError:
            if strict:
                raise
        else:
            if strict or suite.sha256 == row.suite_sha256:
                return suite
    base = Path(row.suite_path).parent if row.suite_path else None
    return parse_suite(row.suite_text, source=row.suite_path or f"run {row.id}", base_dir=base)


def resume(run_id: int, *, on_event: EventCallback | None = None,
           settings: AppSettings | None = None, database: Path | None = None,
           build: TargetBuilder | None = None) -> EvalRunner:
    """A runner that continues run ``run_id`` with the options it was started with."""
    with contextlib.closing(db.connect(database)) as connection:
        row = store.get_run(connection, run_id)
    suite = resume_suite(row)
    options = RunOptions.from_stored(row.options)
    if not options.targets:
        suite_labels = [t.label for t in suite.targets]
        if list(row.targets) != suite_labels:
            raise BadInput(f"the suite's targets changed since run {run_id}: start a new run")
    return EvalRunner(suite, options, run_id=run_id, on_event=on_event, settings=settings,
                      database=database, build=build)


def stored_outcome(run_id: int, *, database: Path | None = None) -> RunOutcome:
    """A stored run as a RunOutcome (for reports, ``eval show`` and the GUI)."""
    with contextlib.closing(db.connect(database)) as connection:
        stored = store.load_run(connection, run_id)
    row = stored.row
    suite = resume_suite(row, strict=False)
    return RunOutcome(row.id, suite, list(row.targets), stored.results, dict(row.skipped),
                      row.status == store.COMPLETE, row.status == store.CANCELLED, row.judge,
                      dict(row.judge_usage))


# -- a stored run's JSON document (``eval export``; a router's ``eval: RUN_ID`` rule) -----------
DEFAULT_BAR = 0.8  # `workbench eval --bar`'s default
DEFAULT_MONTHLY_REQUESTS = 100_000.0  # `--volume`'s default


def document_of(outcome: RunOutcome, *, bar: float = DEFAULT_BAR,
                monthly_requests: float = DEFAULT_MONTHLY_REQUESTS, private: bool = False,
                settings: AppSettings | None = None) -> dict[str, Any]:
    """The document of ``outcome`` with the decision at ``bar`` and ``monthly_requests``."""
    from workbench.evals.decision import decide
    from workbench.evals.reports import build_document
    from workbench.evals.summary import summarize

    summary = summarize(outcome.suite, outcome.results, outcome.targets)
    decision = decide(summary, bar=bar, monthly_requests=monthly_requests, private=private,
                      settings=settings)
    return build_document(run_id=outcome.run_id, suite=outcome.suite, targets=outcome.targets,
                          results=outcome.results, summary=summary, decision=decision,
                          skipped=outcome.skipped, judge=outcome.judge,
                          judge_usage=outcome.judge_usage, complete=outcome.complete)


def run_document(run_id: int, *, database: Path | None = None,
                 settings: AppSettings | None = None) -> dict[str, Any]:
    """Stored run ``run_id``'s document at the default bar and volume (BadInput: no such run)."""
    return document_of(stored_outcome(run_id, database=database), settings=settings)


__all__ = [
    "EvalEvent",
    "EvalRunner",
    "RunOptions",
    "RunOutcome",
    "document_of",
    "grade_answer",
    "render_messages",
    "resume",
    "run_document",
    "stored_outcome",
]
