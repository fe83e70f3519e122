"""The protocol library: every spec under specs/replication, specs/loadbalancing,
specs/variants, specs/seed and specs/raft.spec, checked under its default constants and
the faults its header documents.

* Correct specs: the verdict and the number of distinct states (and the depth). These are
  regression pins: a change in any of them means the model or the checker changed, and
  docs/protocols.md must be updated with it.
* Broken variants and seeds: the violated property and the exact length of the shortest
  counterexample (in states, the initial state included), and for the small seeds the
  steps of the counterexample.
* Two counts are confirmed independently: a plain-Python breadth-first search of the
  health-checked load balancer (with its fault budget), and the fault-free 2PC and Paxos
  variants, which must reduce to the published counts of specs/2pc.spec and
  specs/paxos.spec (docs/counts.md).

Searches run as the command line runs them: with the spec's `symmetry` declarations
(one state per orbit), unless a case says otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.api import load_spec
from checker.explore import explore
from checker.result import Status

ROOT = Path(__file__).resolve().parent.parent


def check(spec: str, *, faults=(), consts=(), inv=(), deadlock=None, max_faults=None,
          symmetry=True):
    """Check a spec the way `modelcheck SPEC [options]` does; returns the Result."""
    compiled = load_spec(str(ROOT / spec), consts, faults, deadlock, max_faults=max_faults)
    model = compiled.model.select_invariants(inv) if inv else compiled.model
    canonical = None
    if symmetry and compiled.typed.symmetry:
        from checker.symmetry import Symmetry, check_symmetry

        check_symmetry(compiled.typed, compiled.universe)
        extra = 1 if compiled.max_faults is not None else 0
        canonical = Symmetry(compiled.typed, compiled.universe, compiled.typed.symmetry,
                             extra).canonical
    return explore(model, canonical=canonical)


def case(name: str, *values, slow: bool = False):
    return pytest.param(*values, id=name, marks=[pytest.mark.slow] if slow else [])


# ------------------------------------------------------------- specs that hold
# (id, spec, options, distinct states, depth)
HOLDS = [
    case("primary_backup", "specs/replication/primary_backup.spec", {}, 1158, 21),
    case("primary_backup-faults", "specs/replication/primary_backup.spec",
         {"faults": ("all",)}, 38258, 27, slow=True),
    case("primary_backup_lazy-nofaults", "specs/replication/primary_backup_lazy.spec", {},
         10, 5),
    case("multi_master", "specs/replication/multi_master.spec", {}, 901, 16),
    case("multi_master-faults", "specs/replication/multi_master.spec", {"faults": ("all",)},
         31923, 18, slow=True),
    case("dns-nofaults", "specs/loadbalancing/dns.spec", {}, 25, 9),
    case("health_checked_lb-faults", "specs/loadbalancing/health_checked_lb.spec",
         {"faults": ("all",)}, 328, 14),
    case("2pc-nofaults", "specs/2pc.spec", {}, 80, 11),
    case("2pc-atomicity-under-crashes", "specs/2pc.spec",
         {"faults": ("crash", "restart"), "inv": ("Consistent", "DecisionsDurable")}, 1322, 15),
    case("paxos-faults", "specs/paxos.spec",
         {"faults": ("crash", "restart", "loss"), "consts": ("MaxBallot=1",)}, 31275, 20),
    case("paxos_faults-nofaults", "specs/variants/paxos_faults.spec", {}, 857, 17),
    case("paxos_faults-faults", "specs/variants/paxos_faults.spec", {"faults": ("all",)},
         43847, 20),
    case("paxos_forgetful-loss-only", "specs/variants/paxos_forgetful.spec",
         {"faults": ("Lose",)}, 24644, 21),
    case("raft", "specs/raft.spec", {}, 10282, 21),
    case("raft-faults", "specs/raft.spec", {"faults": ("all",)}, 75001, 26, slow=True),
    case("raft_truncating_follower-nofaults", "specs/variants/raft_truncating_follower.spec",
         {}, 10282, 21),
    case("naive_paxos_first_value-nofaults", "specs/seed/naive_paxos_first_value.spec", {},
         867, 11),
]


@pytest.mark.parametrize(("spec", "options", "distinct", "depth"), HOLDS)
def test_spec_holds(spec, options, distinct, depth):
    result = check(spec, **options)
    assert result.status is Status.OK, result.violation
    assert result.stats.distinct_states == distinct
    assert result.stats.depth == depth


# --------------------------------------------------- broken variants and seeds
# (id, spec, options, status, violated property, counterexample length in states)
VIOLATED = [
    case("primary_backup_lazy", "specs/replication/primary_backup_lazy.spec",
     {"faults": ("Crash",)}, Status.VIOLATION, "NoAckedWriteLost", 4),
    case("multi_master_overwrite", "specs/replication/multi_master_overwrite.spec", {},
     Status.VIOLATION, "Converged", 7),
    case("multi_master_overwrite-loss", "specs/replication/multi_master_overwrite.spec",
     {"faults": ("Lose",), "consts": ("MaxWrites=1",)}, Status.VIOLATION, "Converged", 4),
    case("dns", "specs/loadbalancing/dns.spec", {"faults": ("all",)}, Status.VIOLATION,
     "NoSendToRemovedServer", 5),
    case("2pc-blocking", "specs/2pc.spec",
     {"faults": ("all",), "inv": ("Consistent", "NotBlocked", "DecisionsDurable")},
     Status.VIOLATION, "NotBlocked", 5),
    case("2pc-blocking-deadlock", "specs/2pc.spec",
     {"faults": ("TMCrash",), "inv": ("Consistent",), "deadlock": True}, Status.DEADLOCK,
     None, 5),
    case("paxos_forgetful", "specs/variants/paxos_forgetful.spec", {"faults": ("all",)},
     Status.VIOLATION, "Agreement", 15),
    case("raft_volatile_vote", "specs/variants/raft_volatile_vote.spec",
     {"faults": ("Restart",)}, Status.VIOLATION, "ElectionSafety", 6),
    case("raft_truncating_follower", "specs/variants/raft_truncating_follower.spec",
     {"faults": ("Duplicate",)}, Status.VIOLATION, "LeaderCompleteness", 13),
    case("seed-master_slave", "specs/seed/master_slave.spec", {"faults": ("all",)},
     Status.VIOLATION, "AckedWritesSurviveFailover", 4),
    case("seed-master_master", "specs/seed/master_master.spec", {}, Status.VIOLATION,
     "Converged", 5),
    case("seed-naive_paxos", "specs/seed/naive_paxos.spec", {}, Status.VIOLATION, "Agreement", 9),
    case("seed-naive_paxos_first_value", "specs/seed/naive_paxos_first_value.spec",
     {"faults": ("all",)}, Status.VIOLATION, "Agreement", 11),
    case("seed-naive_2pc", "specs/seed/naive_2pc.spec", {}, Status.VIOLATION, "Consistent", 6),
]


@pytest.mark.parametrize(("spec", "options", "status", "prop", "length"),
                         VIOLATED)
def test_broken_variant_counterexample(spec, options, status, prop, length):
    result = check(spec, **options)
    assert result.status is status
    assert result.violation.property == prop
    assert len(result.violation.trace) == length


# The seeds' counterexamples, step by step: the story docs/protocols.md tells.
SEED_TRACES = [
    ("specs/seed/master_slave.spec", ("all",),
     ["Write(w1)", "MasterCrash", "Failover"]),
    ("specs/seed/master_master.spec", (),
     ["Write(m1, v1)", "Write(m2, v2)", "Receive(m1, m2)", "Receive(m2, m1)"]),
    ("specs/seed/naive_2pc.spec", (),
     ["SendPrepare", "RcvPrepare(r1)", "RcvPrepare(r2)", "SendCommit", "RcvCommit(r1)"]),
    ("specs/seed/naive_paxos.spec", (),
     ["StartProposal(p1, v1)", "StartProposal(p2, v2)", "Accept(a1, Propose(p=p1, val=v1))",
      "Accept(a1, Propose(p=p2, val=v2))", "Accept(a2, Propose(p=p1, val=v1))",
      "Accept(a2, Propose(p=p2, val=v2))", "Decide(p1, v1)", "Decide(p2, v2)"]),
]


@pytest.mark.parametrize(("spec", "faults", "steps"), SEED_TRACES,
                         ids=[Path(s).stem for s, _, _ in SEED_TRACES])
def test_seed_counterexample_steps(spec, faults, steps):
    result = check(spec, faults=faults)
    assert [s.label for s in result.violation.trace[1:]] == steps


def test_seed_naive_2pc_outcome():
    """The last state of the naive 2PC counterexample: one participant committed, another
    failed its prepare, and the manager committed without looking."""
    last = check("specs/seed/naive_2pc.spec").violation.trace[-1].state
    assert str(last["mState"]) == "committing"
    states = {str(k): str(v) for k, v in last["pState"].pairs}
    assert states["r1"] == "committed" and states["r2"] == "failed"


# ------------------------------------------------------- faults matter: claims of headers
def test_faults_are_off_by_default_and_needed():
    """The broken variants that need a fault hold without it (so the fault is what breaks
    them, as their headers say)."""
    for spec in ["specs/replication/primary_backup_lazy.spec", "specs/loadbalancing/dns.spec",
                 "specs/seed/master_slave.spec", "specs/variants/paxos_forgetful.spec"]:
        assert check(spec).status is Status.OK, spec


def test_raft_truncating_follower_needs_duplication():
    result = check("specs/variants/raft_truncating_follower.spec", faults=("Lose",))
    assert result.status is Status.OK
    assert result.stats.distinct_states == 20513


# ------------------------------------------------- cross-checks of the state counts
def test_2pc_without_faults_is_twophase():
    """Switched off, the faults leave TwoPhase itself: TLC's 288 states and 1146 generated
    without symmetry (the fault-only variables never change)."""
    plain = check("specs/2pc.spec", symmetry=False)
    assert (plain.stats.distinct_states, plain.stats.generated_states) == (288, 1146)


def test_paxos_without_faults_is_lamports_paxos():
    """The fault-only variable `up` never changes without faults: the counts stay those of
    Lamport's Paxos.tla (3,921 states, 23,703 generated with MaxBallot = 1)."""
    plain = check("specs/paxos.spec", symmetry=False, consts=("MaxBallot=1",))
    assert (plain.stats.distinct_states, plain.stats.generated_states) == (3921, 23703)


def test_paxos_faults_without_faults_is_paxos():
    """Switched off, the faults leave Lamport's Paxos (MaxBallot = 1): 3,921 states without
    symmetry, the count docs/counts.md checks against an independent implementation."""
    plain = check("specs/variants/paxos_faults.spec", symmetry=False)
    assert plain.stats.distinct_states == 3921
    base = check("specs/paxos.spec", consts=("MaxBallot=1",), inv=("Agreement",))
    assert check("specs/variants/paxos_faults.spec").stats.distinct_states == \
        base.stats.distinct_states


def _lb_reference(servers: int = 3, requests: int = 3, budget: int = 2) -> tuple[int, int]:
    """health_checked_lb.spec written again as a plain breadth-first search (no code shared
    with the checker): the number of distinct states, with the fault count as part of the
    state as the checker keeps it, and the depth. Asserts the three properties."""
    start = ((True,) * servers, (True,) * servers, 0, 0, (0,) * servers, (0,) * servers, 0, 0)

    def put(t, i, x):
        return t[:i] + (x,) + t[i + 1:]

    def steps(st, faults_on=True):
        up, marked, sent, waiting, assigned, queued, served, f = st
        out = []
        if sent < requests:
            out.append(("send", None, (up, marked, sent + 1, waiting + 1, assigned, queued,
                                       served, f)))
        for s in range(servers):
            if waiting > 0 and marked[s]:
                q = put(queued, s, queued[s] + 1) if up[s] else queued
                out.append(("route", s, (up, marked, sent, waiting - 1,
                                         put(assigned, s, assigned[s] + 1), q, served, f)))
            if up[s] and queued[s] > 0:
                out.append(("serve", s, (up, marked, sent, waiting,
                                         put(assigned, s, assigned[s] - 1),
                                         put(queued, s, queued[s] - 1), served + 1, f)))
            if marked[s] != up[s]:
                out.append(("check", s, (up, put(marked, s, up[s]), sent, waiting, assigned,
                                         queued, served, f)))
            if assigned[s] > queued[s]:
                out.append(("timeout", s, (up, marked, sent, waiting + 1,
                                           put(assigned, s, assigned[s] - 1), queued, served,
                                           f)))
            if faults_on and f < budget:
                if up[s]:
                    out.append(("crash", s, (put(up, s, False), marked, sent, waiting,
                                             assigned, put(queued, s, 0), served, f + 1)))
                else:
                    out.append(("recover", s, (put(up, s, True), marked, sent, waiting,
                                               assigned, queued, served, f + 1)))
        return out

    seen = {start}
    frontier = [start]
    depth = 0
    while frontier:
        depth += 1
        nxt = []
        for st in frontier:
            up, marked, _sent, waiting, _assigned, _queued, served, _f = st
            protocol = [x for x in steps(st, faults_on=False)]
            if not protocol and any(up):
                assert served == requests                         # EveryRequestServed
            if waiting > 0 and any(u and m for u, m in zip(up, marked)):
                assert any(k == "route" for k, _, _ in protocol)   # RoutesWhileSomeServerKnownUp
            for kind, s, t in steps(st):
                if kind == "route":
                    assert marked[s]                               # NeverRoutesToMarkedDown
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        frontier = nxt
    return len(seen), depth


def test_health_checked_lb_matches_plain_python_search():
    distinct, depth = _lb_reference()
    result = check("specs/loadbalancing/health_checked_lb.spec", faults=("all",),
                   symmetry=False)
    assert result.status is Status.OK
    assert (result.stats.distinct_states, result.stats.depth) == (distinct, depth) == (1372, 14)


# ------------------------------------------------------------------ documentation
LIBRARY = sorted([*ROOT.glob("specs/replication/*.spec"), *ROOT.glob("specs/loadbalancing/*.spec"),
                  *ROOT.glob("specs/variants/*.spec"), *ROOT.glob("specs/seed/*.spec"),
                  ROOT / "specs/raft.spec"])


@pytest.mark.parametrize("path", LIBRARY, ids=[p.stem for p in LIBRARY])
def test_every_spec_has_a_header_and_a_section(path):
    """Each spec opens with the comment that says how to run it, and docs/protocols.md
    covers it."""
    text = path.read_text()
    assert text.startswith("#")
    header = text[:text.index("\nspec ")]
    assert "Run it:" in header and "modelcheck specs/" in header
    assert "ault" in header            # its fault assumptions (Faults: ... / No faults ...)
    rel = path.relative_to(ROOT / "specs").as_posix()
    assert rel in (ROOT / "docs/protocols.md").read_text(), rel


def test_library_table_names_each_specs_fault_kinds():
    """The library table says which fault kinds 2PC and Paxos model: 2PC has no loss fault
    (its set of messages already covers loss), Paxos has one."""
    def kinds(spec):
        typed = load_spec(str(ROOT / spec)).typed
        return {a.fault_kind for a in typed.actions if a.fault}

    assert kinds("specs/2pc.spec") == {"crash", "restart"}
    assert kinds("specs/paxos.spec") == {"crash", "restart", "loss"}
    assert "two-phase commit with crash and restart faults; Paxos with crash, restart and " \
        "loss faults" in (ROOT / "docs/protocols.md").read_text()


# Fault-free counts quoted in the prose of docs/protocols.md: (spec, sentence, distinct).
PROSE_COUNTS = [
    ("specs/replication/primary_backup_lazy.spec", "It holds without faults ({} states)", 10),
    ("specs/loadbalancing/dns.spec", "Without them it holds ({} states)", 25),
    ("specs/replication/primary_backup.spec", "Without faults: {} states", 1158),
    ("specs/replication/multi_master.spec", "Without faults: {} states", 901),
]


@pytest.mark.parametrize(("spec", "sentence", "distinct"), PROSE_COUNTS,
                         ids=[Path(s).stem for s, _, _ in PROSE_COUNTS])
def test_fault_free_counts_in_the_prose(spec, sentence, distinct):
    result = check(spec)
    assert result.status is Status.OK
    assert result.stats.distinct_states == distinct
    assert sentence.format(f"{distinct:,}") in (ROOT / "docs/protocols.md").read_text()


# ---------------------------------------------------------------- --faults selection
def _faults_error(spec: str, faults: tuple[str, ...]) -> str:
    from checker.source import SpecError

    with pytest.raises(SpecError) as err:
        load_spec(str(ROOT / spec), faults=faults)
    return err.value.render()


def test_all_does_not_hide_a_misspelt_fault():
    """`--faults all,crsh` is refused like `--faults crsh`, instead of running with every
    fault on and the typo ignored."""
    assert "unknown fault crsh" in _faults_error("specs/2pc.spec", ("all", "crsh"))
    assert "unknown fault Lsoe" in _faults_error("specs/paxos.spec", ("Lsoe", "all"))


def test_unknown_fault_says_what_the_word_is():
    message = _faults_error("specs/2pc.spec", ("TMRcvPrepared",))
    assert "TMRcvPrepared is an action of this spec but not a fault action" in message
    assert "did you mean crash?" in _faults_error("specs/2pc.spec", ("Crash",))
    assert "did you mean Lose?" in _faults_error("specs/paxos.spec", ("lose",))


def test_all_reports_unmodelled_kinds():
    """`--faults all` on a spec without fault actions runs the protocol as it is and says
    that no fault is modelled; a kind named next to `all` that the spec lacks is listed."""
    from checker.faults import FAULT_KINDS

    bare = load_spec(str(ROOT / "specs/seed/master_master.spec"), faults=("all",))
    assert bare.faults == () and bare.unmodelled_faults == FAULT_KINDS
    paxos = load_spec(str(ROOT / "specs/paxos.spec"), faults=("all", "duplication"),
                      consts=("MaxBallot=0",))
    assert paxos.faults == ("Crash", "Restart", "Lose")
    assert paxos.unmodelled_faults == ("duplication",)


def test_budget_zero_and_no_budget():
    """`--max-faults 0` switches the faults on and lets none happen (TwoPhase's 80 orbits);
    a spec without `option max_faults` leaves fault steps unbounded, as docs/language.md
    says."""
    zero = check("specs/2pc.spec", faults=("all",), max_faults=0)
    assert (zero.status, zero.stats.distinct_states) == (Status.OK, 80)
    assert load_spec(str(ROOT / "specs/seed/master_slave.spec"), faults=("all",)).max_faults \
        is None
    text = (ROOT / "docs/language.md").read_text()
    assert "With neither, fault\nsteps are not bounded; `--max-faults 0`" in text


def test_primary_backup_lazy_summary_row():
    """The summary table's count for the lazy primary-backup run (one worker, which stops
    at the violation): 18 distinct states, 31 generated."""
    result = check("specs/replication/primary_backup_lazy.spec", faults=("Crash",))
    assert (result.stats.distinct_states, result.stats.generated_states) == (18, 31)
    text = (ROOT / "docs/protocols.md").read_text()
    assert "| `replication/primary_backup_lazy.spec` | Crash (1) | NoAckedWriteLost violated, " \
        "4 states | 18 |" in text


def test_restart_without_crash_is_noted():
    # (`--faults restart` switched on restarts that nothing could trigger, silently)
    from click.testing import CliRunner

    from checker.cli import main

    alone = CliRunner().invoke(main, ["specs/2pc.spec", "--faults", "restart"])
    assert alone.exit_code == 0, alone.output
    assert ("  note:       restart is on but no crash fault is: a restart fires only for a "
            "node that is down (--faults crash,restart)") in alone.output
    both = CliRunner().invoke(main, ["specs/2pc.spec", "--faults", "crash,restart",
                                     "--max-states", "10"])
    assert "restart is on but no crash" not in both.output
