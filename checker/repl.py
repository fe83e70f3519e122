"""``modelcheck explore SPEC``: step through a spec by hand, in a terminal.

The explorer shows the current state (the variables the last step changed marked
``*``), lists the enabled actions with their arguments, numbered, and takes one when
you type its number. ``back`` undoes a step; ``check`` runs the checker and loads its
counterexample, ``load FILE`` loads one from a JSON result, and ``jump N`` goes to its
state N; ``eval EXPR`` evaluates an expression in the current state and ``why EXPR``
explains a boolean one. Reads commands from any text stream, so tests drive it with a
``StringIO``.
"""

from __future__ import annotations

import json
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from typing import IO, Any

from .compile import CompiledSpec
from .model import State
from .result import Result, TraceStep
from .source import Source, SpecError
from .values import format_value

HELP = """\
Commands:
  N              take enabled action number N
  back [K]       undo the last step (or the last K steps)
  init [N]       list the initial states, or restart from initial state N
  actions        list every enabled action (the list after each step is cut at {limit})
  state          show the current state again
  path           the steps taken from the initial state
  check          run the checker from the initial states and load its counterexample
  load FILE      load the counterexample of a JSON result (modelcheck --format json)
  jump N         go to state N of the loaded counterexample
  trace          show the loaded counterexample's steps
  eval EXPR      evaluate an expression in the current state, e.g. eval size(msgs)
  why [EXPR]     explain why EXPR (default: each invariant) is true or false here
  help           this text
  quit           leave (also exit, or end of input)"""


class ExploreError(Exception):
    """A command could not be carried out (the message is shown, the session goes on)."""


class Repl:
    """The interactive explorer. ``run()`` reads commands until ``quit`` or end of input
    and returns the exit status (0)."""

    def __init__(self, compiled: CompiledSpec, *, source: Source | None = None,
                 consts: Sequence[str] | dict[str, str] = (),
                 input: IO[str] | None = None, output: IO[str] | None = None,  # noqa: A002
                 counterexample: Result | Sequence[TraceStep] | None = None,
                 max_listed: int = 40, prompt: str = "> ", echo: bool = False):
        from .graph import without_lemmas

        self.compiled = compiled
        # the properties `check` checks by default (not the lemmas, which are proof helpers)
        self.model = without_lemmas(compiled)
        self.source = source
        self.consts = consts
        self.input = input if input is not None else sys.stdin
        self.output = output if output is not None else sys.stdout
        self.max_listed = max_listed
        self.prompt = prompt
        self.echo = echo      # write each command after the prompt (input from a pipe)
        self.inits: list[State] = list(self.model.initial_states())
        if not self.inits:
            raise ExploreError("the spec has no initial state")
        self.path: list[tuple[State, str | None]] = [(self.inits[0], None)]
        self.cex: list[tuple[State, str | None]] = []
        self.cex_what = ""
        self.cex_note = ""    # why a loaded trace stops early (it departs from the spec)
        self._checker = None
        self._steps_cache: tuple[State, list] | None = None
        if counterexample is not None:
            self._load_trace(counterexample, "the given result")

    @classmethod
    def from_file(cls, path: str, *, consts: Sequence[str] | dict[str, str] = (),
                  faults: Sequence[str] = (), max_faults: int | None = None,
                  **kw: Any) -> Repl:
        """Load the spec (raising SpecError on bad input) and open an explorer on it."""
        from .api import load_spec
        from .parser import read_source

        source = read_source(path)
        compiled = load_spec(path, consts, faults, max_faults=max_faults, text=source.text)
        return cls(compiled, source=source, consts=consts, **kw)

    # ------------------------------------------------------------------ output
    def say(self, text: str = "") -> None:
        self.output.write(text + "\n")

    # ------------------------------------------------------------------- loop
    def run(self) -> int:
        self.say(f"Exploring {self.model.name}. Type a number to take that step, `help` for "
                 "the commands.")
        if len(self.inits) > 1:
            self.say(f"({len(self.inits)} initial states; starting from the first, `init` "
                     "lists them.)")
        if self.cex:
            self.say(f"Loaded {self.cex_what} ({len(self.cex)} states); `jump N` goes to "
                     "its state N.")
            if self.cex_note:
                self.say(f"warning: {self.cex_note}")
        self.show()
        # Ctrl-C abandons the command being typed or run, as in Python's prompt (the
        # command line's handler would end the session, "interrupted", exit status 3,
        # and ignore every later Ctrl-C); Ctrl-D, `quit` or end of input leaves.
        own = threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, None)
        previous = signal.signal(signal.SIGINT, signal.default_int_handler) if own else None
        try:
            while True:
                try:
                    self.output.write(self.prompt)
                    self.output.flush()
                    line = self.input.readline()
                except KeyboardInterrupt:
                    self.say("\n(interrupted: `quit` or Ctrl-D leaves)")
                    continue
                if not line:
                    self.say()
                    return 0
                if self.echo:
                    self.say(line.rstrip("\n"))
                try:
                    if not self.execute(line):
                        return 0
                except KeyboardInterrupt:
                    self.say("\ninterrupted")
        finally:
            if own:
                signal.signal(signal.SIGINT, previous)

    def execute(self, line: str) -> bool:
        """Run one command; False when the session should end."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        try:
            if word.isdecimal():
                self.take(int(word))
            elif word in ("quit", "exit", "q"):
                return False
            elif word in ("help", "?", "h"):
                self.say(HELP.format(limit=self.max_listed))
            elif word == "back":
                self.back(_count(rest, "back [K] (K a number of steps, at least 1)")
                          if rest else 1)
            elif word in ("state", "show"):
                self.show()
            elif word == "actions":
                self.list_actions(limit=None)
            elif word == "path":
                self.show_path()
            elif word == "init":
                self.init(_count(rest, "init [N] (N an initial state's number)")
                          if rest else None)
            elif word == "check":
                if self.check():
                    self.say(f"Loaded it ({len(self.cex)} states); `jump N` goes to state N, "
                             "`trace` lists the steps.")
            elif word == "load":
                path = _one_arg(rest, "load FILE")
                self.load(path)
                self.say(f"Loaded {path} ({len(self.cex)} states); `jump N` goes to state N.")
                if self.cex_note:
                    self.say(f"warning: {self.cex_note}")
            elif word == "jump":
                self.jump(_count(rest, "jump N (a state number)"))
            elif word == "trace":
                self.show_trace()
            elif word == "eval":
                self.eval(rest or _bad("eval EXPR"))
            elif word == "why":
                self.why(rest)
            else:
                self.say(f"unknown command `{word}`; type `help` for the list")
        except ExploreError as err:
            self.say(f"error: {err}")
        except SpecError as err:
            self.say(err.render())
        except ValueError as err:
            self.say(f"error: {err}")
        return True

    # ------------------------------------------------------------- the state
    @property
    def state(self) -> State:
        return self.path[-1][0]

    def steps(self) -> list:
        """The enabled steps from the current state (cached)."""
        if self._steps_cache is not None and self._steps_cache[0] == self.state:
            return self._steps_cache[1]
        from .explore import MODEL_ERRORS

        try:
            steps = list(self.model.steps(self.state))
        except MODEL_ERRORS as err:
            diag = self.model.diagnose(self.state) if self.model.diagnose else None
            raise ExploreError(diag.message if diag else f"the spec fails here: {err}") \
                from None
        self._steps_cache = (self.state, steps)
        return steps

    def show(self) -> None:
        n = len(self.path)
        label = self.path[-1][1]
        self.say()
        self.say(f"State {n}" + (f" (after {label})" if label else " (initial state)") + ":")
        now = self.model.decode(self.state)
        before = self.model.decode(self.path[-2][0]) if n > 1 else None
        for name, value in now.items():
            changed = before is not None and (before[name] != value or format_value(
                before[name]) != format_value(value))
            self.say(f"  {'*' if changed else ' '} {name} = {format_value(value)}")
        if len(self.state) > len(self.model.variables):
            # the fault budget's hidden counter: without it, a state looked the same as
            # one with fewer faults taken, yet listed no fault action once it was spent
            taken = self.state[len(self.model.variables)]
            mark = "*" if n > 1 and self.path[-2][0][len(self.model.variables)] != taken \
                else " "
            self.say(f"  {mark} (fault steps taken: {taken} of at most "
                     f"{self.compiled.max_faults})")
        for name in self._violated(self.state):
            self.say(f"  ! invariant {name} is false here (`why` says why)")
        self.list_actions(limit=self.max_listed)

    def _violated(self, state: State) -> list[str]:
        out = []
        for inv in self.model.invariants:
            try:
                if not inv.holds(state):
                    out.append(inv.name)
            except Exception:  # noqa: BLE001
                out.append(inv.name)
        return out

    def list_actions(self, limit: int | None) -> None:
        try:
            steps = self.steps()
        except ExploreError as err:
            self.say(f"error: {err}")
            return
        if not steps:
            self.say("No action is enabled here (a deadlock). `why` says what disables each.")
            return
        self.say("Enabled actions:")
        shown = steps if limit is None else steps[:limit]
        for i, st in enumerate(shown, start=1):
            marks = []
            bad = self._violated(st.state)
            if bad:
                marks.append("leads to a state where " + ", ".join(bad)
                             + (" is false" if len(bad) == 1 else " are false"))
            for tinv in self.model.transition_invariants:
                try:
                    ok = tinv.holds(self.state, st.state)
                except Exception:  # noqa: BLE001
                    ok = False
                if not ok:
                    marks.append(f"violates {tinv.name}")
            if st.state == self.state:
                marks.append("changes nothing")
            self.say(f"  {i:>2}. {st.label}" + (f"   ({'; '.join(marks)})" if marks else ""))
        if len(shown) < len(steps):
            self.say(f"  ... and {len(steps) - len(shown)} more (`actions` lists them all)")

    # --------------------------------------------------------------- moving
    def take(self, n: int) -> None:
        steps = self.steps()
        if not 1 <= n <= len(steps):
            raise ExploreError(f"there is no action {n} (choose 1 to {len(steps)})"
                               if steps else "no action is enabled here")
        st = steps[n - 1]
        self.path.append((st.state, st.label))
        self.show()

    def back(self, k: int = 1) -> None:
        if k < 1:
            raise ExploreError("usage: back [K] (K a number of steps, at least 1)")
        if len(self.path) == 1:
            raise ExploreError("already at the initial state")
        k = min(k, len(self.path) - 1)
        del self.path[-k:]
        self.show()

    def init(self, n: int | None) -> None:
        if n is None:
            for i, s in enumerate(self.inits, start=1):
                shown = ", ".join(f"{k} = {format_value(v)}"
                                  for k, v in self.model.decode(s).items())
                self.say(f"  {i:>2}. {shown}")
            return
        if not 1 <= n <= len(self.inits):
            raise ExploreError(f"there is no initial state {n} (1 to {len(self.inits)})")
        self.path = [(self.inits[n - 1], None)]
        self.show()

    def show_path(self) -> None:
        for i, (_, label) in enumerate(self.path, start=1):
            self.say(f"  {i:>3}. {label or 'initial state'}")

    # ------------------------------------------------------- counterexamples
    def check(self) -> bool:
        """Run the explicit checker from the initial states and load its counterexample
        (True when there was one)."""
        from .explore import explore

        self.say("Checking from the initial states ...")
        result = explore(self.model)
        from .render.text import verdict_line

        self.say(verdict_line(result))
        if result.violation is None or not result.violation.trace:
            return False
        self._load_trace(result, "the checker's counterexample")
        return True

    def load(self, path: str) -> None:
        """Load the counterexample of a JSON result file, or an ITF trace (ours, or one
        Apalache or Quint wrote); raises ExploreError."""
        try:
            with open(path, encoding="utf-8-sig") as fh:
                text = fh.read()
            data = json.loads(text)
        except OSError as err:
            raise ExploreError(f"cannot read {path}: {err.strerror}") from None
        except (UnicodeDecodeError, ValueError) as err:
            raise ExploreError(f"{path} is not JSON: {err}") from None
        if isinstance(data, dict) and isinstance(data.get("states"), list) and \
                "violation" not in data:
            self._load_trace(self._read_itf(path, text), path)
            return
        violation = data.get("violation") if isinstance(data, dict) else None
        trace = violation.get("trace") if isinstance(violation, dict) else None
        if not isinstance(trace, list) or not trace:
            raise ExploreError(f"{path} has no counterexample (no violation.trace)")
        steps = [self._read_step(i, s) for i, s in enumerate(trace, start=1)]
        self._load_trace(steps, path)

    def _read_itf(self, path: str, text: str) -> list[TraceStep]:
        from .itf import read_itf
        from .source import SpecError

        try:
            states = read_itf(path, self.compiled, text)
        except SpecError as err:
            raise ExploreError(err.render()) from None
        if not states:
            raise ExploreError(f"{path} has no states")
        steps = []
        for st in states:
            missing = [v.name for v in self.compiled.typed.variables if v.name not in st.values]
            if missing:
                raise ExploreError(f"state {st.index} of {path} does not give "
                                   f"{', '.join(missing)}: only a trace of whole states can "
                                   "be stepped through (`modelcheck trace` checks partial "
                                   "ones)")
            steps.append(TraceStep(st.action if st.index else None, (), st.values))
        return steps

    def _read_step(self, i: int, s: Any) -> TraceStep:
        from .trace.jsonvalues import read_value

        if not isinstance(s, dict) or not isinstance(s.get("state"), dict):
            raise ExploreError(f"state {i} of the trace is not an object with a \"state\"")
        state = {}
        for v in self.compiled.typed.variables:
            if v.name not in s["state"]:
                raise ExploreError(f"state {i} of the trace has no variable {v.name}")
            try:
                state[v.name] = read_value(self.compiled.universe, v.t, s["state"][v.name])
            except ValueError as err:
                raise ExploreError(f"state {i}, variable {v.name}: {err}") from None
        label = s.get("action")
        return TraceStep(label if isinstance(label, str) else None, (), state)

    def _load_trace(self, source: Result | Sequence[TraceStep], what: str) -> None:
        """Replay a trace through the model, so every state is one the spec can reach
        (with any hidden part, such as the fault counter, filled in)."""
        if isinstance(source, Result):
            if source.violation is None or not source.violation.trace:
                raise ExploreError("the result has no counterexample")
            trace = list(source.violation.trace)
        else:
            trace = list(source)
        decode = self.model.decode
        first = next((s for s in self.inits if decode(s) == trace[0].state), None)
        if first is None:
            raise ExploreError("the trace's first state is not an initial state of the spec")
        path: list[tuple[State, str | None]] = [(first, None)]
        note = ""
        for i, step in enumerate(trace[1:], start=2):
            candidates = [st for st in self.model.steps(path[-1][0])
                          if decode(st.state) == step.state]
            if not candidates:
                # (loaded up to here, as documented: this was an error, and
                # `explore --trace` exited with status 2 saying it had loaded them)
                after = f" ({step.label})" if step.label else ""
                note = (f"state {i}{after} of the trace cannot follow state {i - 1} in this "
                        f"spec (other --const or --faults?); loaded the first {i - 1} "
                        "states")
                break
            label = step.label
            best = next((st for st in candidates if st.label == label), candidates[0])
            path.append((best.state, best.label))
        self.cex, self.cex_what, self.cex_note = path, what, note

    def jump(self, n: int) -> None:
        if not self.cex:
            raise ExploreError("no counterexample is loaded (use `check` or `load FILE`)")
        if not 1 <= n <= len(self.cex):
            raise ExploreError(f"the counterexample has states 1 to {len(self.cex)}")
        self.path = list(self.cex[:n])
        self.show()

    def show_trace(self) -> None:
        if not self.cex:
            raise ExploreError("no counterexample is loaded (use `check` or `load FILE`)")
        here = len(self.path) if self.path == self.cex[: len(self.path)] else None
        for i, (_, label) in enumerate(self.cex, start=1):
            mark = " *" if i == here else "  "
            self.say(f"{mark}{i:>3}. {label or 'initial state'}")

    # ------------------------------------------------------------ expressions
    def _typecheck(self, text: str):
        """Parse and type-check an expression with the spec's names in scope (state
        variables, constants, defs, enum values, messages)."""
        from .api import parse_const_assignments
        from .parser import parse, parse_expression
        from .typecheck import Checker, _Ambiguous, _Fail, _Scope

        if self.source is None:
            raise ExploreError("`eval` needs the spec's source text (start the explorer "
                               "with Repl.from_file or pass source=)")
        if self._checker is None:
            if isinstance(self.consts, dict):
                srcs = {k: Source(f"--const {k}", str(v)) for k, v in self.consts.items()}
            else:
                srcs = parse_const_assignments(self.consts)
            overrides = {k: parse_expression(s) for k, s in srcs.items()}
            checker = Checker(parse(self.source), self.source, overrides)
            checker.check()
            if checker.univ.int_base != self.compiled.typed.int_base:
                raise ExploreError("cannot evaluate here: the constants differ from the "
                                   "compiled spec's")
            self._checker = checker
        checker = self._checker
        src = Source("<eval>", text)
        syntax = parse_expression(src)
        before = len(checker.diags)
        try:
            e = checker.expr(syntax, _Scope(predicate=True))
        except _Fail:
            e = None
        except _Ambiguous as amb:
            checker.error(*checker._ambiguous_msg(amb))
            e = None
        errors = checker.diags[before:]
        del checker.diags[before:]
        if errors or e is None:
            raise SpecError(errors or [], src)
        return e, tuple(checker.instances)

    def eval(self, text: str) -> None:
        from .explain import Evaluator, ExplainError

        e, defs = self._typecheck(text)
        try:
            value = Evaluator(self.compiled, defs).readable(e, self.state)
        except ExplainError as err:
            raise ExploreError(f"cannot evaluate it here: {err}") from None
        self.say(format_value(value))

    def why(self, text: str) -> None:
        from .explain import Evaluator, Explainer, ExplainError, why_lines

        if not text:
            invs = [i for i in self.compiled.typed.invariants
                    if not i.transition and not i.lemma]
            try:
                if not self.steps():
                    self.say("No action is enabled here:")
                    for line in Explainer(self.compiled, self._text()).deadlock(self.state):
                        self.say(line)
            except ExploreError as err:
                self.say(f"error: {err}")
            if not invs:
                self.say("The spec has no invariants; `why EXPR` explains an expression.")
            for inv in invs:
                try:
                    lines = why_lines(self.compiled, inv.body, self.state,
                                      source_text=self._text())
                except ExplainError as err:
                    self.say(f"{inv.name}: cannot evaluate it here: {err}")
                    continue
                self.say(f"{inv.name}:")
                for line in lines:
                    self.say(line)
            return
        e, defs = self._typecheck(text)
        try:
            if e.t != _BOOL:
                self.say(format_value(Evaluator(self.compiled, defs).readable(e, self.state)))
                return
            for line in why_lines(self.compiled, e, self.state, defs=defs, source_text=text):
                self.say(line)
        except ExplainError as err:
            raise ExploreError(f"cannot evaluate it here: {err}") from None

    def _text(self) -> str | None:
        return self.source.text if self.source is not None else None


def _bad(usage: str):
    raise ExploreError(f"usage: {usage}")


def _count(rest: str, usage: str) -> int:
    """A positive whole number argument (`back 0` emptied the path and crashed, `back -1`
    went back to the start, `back x` showed Python's int() message)."""
    if not (rest.isascii() and rest.isdigit()) or int(rest) < 1:
        _bad(usage)
    return int(rest)


def _one_arg(rest: str, usage: str) -> str:
    try:
        words = shlex.split(rest)
    except ValueError:
        words = []
    if len(words) != 1:
        _bad(usage)
    return words[0]


def _bool_type():
    from .types import BOOL

    return BOOL


_BOOL = _bool_type()
