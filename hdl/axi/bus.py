"""AXI4 read channels and AXI4-Lite, as :class:`~amaranth.lib.wiring.Signature`\\ s whose member
names are the AMBA specification's (``araddr``, ``rdata``, ...) in lower case.

Both signatures are given from the master's side: a master has ``Out(AxiReadSignature(...))``,
a slave ``In(...)``. Exported, a member ``m_axi`` becomes ports ``m_axi_araddr``,
``m_axi_rdata``, ... (:mod:`hdl.export`), the names interconnect generators and cocotbext-axi's
``AxiReadBus.from_prefix`` expect.
"""

from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AxiResp", "AxiBurst", "AxiReadSignature", "AxiLiteSignature", "DATA_WIDTHS"]

#: Data widths of the read master: beats of 1, 2 or 4 words (the multi-lane decompressor's).
DATA_WIDTHS = (32, 64, 128)


class AxiResp(enum.Enum, shape=2):
    """``RRESP`` / ``BRESP`` (AMBA AXI, A3.4.4)."""
    OKAY = 0
    EXOKAY = 1
    SLVERR = 2
    DECERR = 3


class AxiBurst(enum.Enum, shape=2):
    """``ARBURST``."""
    FIXED = 0
    INCR = 1
    WRAP = 2


def AxiReadSignature(*, addr_width=32, data_width=128, id_width=1):
    """The read address (AR) and read data (R) channels of AXI4, master's view.

    The write channels are absent: a read-only master (AMBA AXI allows a master with only the
    channels it uses). ``arid``/``rid`` are there because many slaves and bus models expect them
    (the master drives 0). ``arlock``, ``arcache``, ``arprot``, ``arqos`` have the widths of
    AXI4."""
    if data_width not in DATA_WIDTHS:
        raise ValueError(f"data_width must be one of {', '.join(map(str, DATA_WIDTHS))}, "
                         f"not {data_width!r}")
    if not 12 < addr_width <= 64:
        raise ValueError(f"addr_width must be 13 .. 64, not {addr_width!r}")
    return wiring.Signature({
        "arid": Out(id_width), "araddr": Out(addr_width), "arlen": Out(8), "arsize": Out(3),
        "arburst": Out(2), "arlock": Out(1), "arcache": Out(4), "arprot": Out(3),
        "arqos": Out(4), "arvalid": Out(1), "arready": In(1),
        "rid": In(id_width), "rdata": In(data_width), "rresp": In(2), "rlast": In(1),
        "rvalid": In(1), "rready": Out(1),
    })


def AxiLiteSignature(*, addr_width=8):
    """AXI4-Lite with 32-bit data, master's view (a register file has ``In(...)``)."""
    return wiring.Signature({
        "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
        "wdata": Out(32), "wstrb": Out(4), "wvalid": Out(1), "wready": In(1),
        "bresp": In(2), "bvalid": In(1), "bready": Out(1),
        "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
        "rdata": In(32), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
    })
