#!/usr/bin/env python3
"""FuseSoC generator (``ansnum.core``, generator ``ansnum_verilog``): exports an ansnum top as one
Verilog file (:func:`hdl.export.export`) into the generator's directory and describes it in the
``.core`` file FuseSoC reads back.

Parameters (the ``generate`` section of the core, or of a core that depends on it): ``top``
(``system``, ``decompressor`` or ``compressor``), ``lanes``, ``tokens``, ``engine``
(``bf16``, ``fixed``, ``none``), ``in_width``, ``table_log``, ``fmt``.
"""

import sys
from pathlib import Path


def main():
    from fusesoc.capi2.generator import Generator
    gen = Generator()
    sys.path.insert(0, str(Path(gen.files_root)))
    from hdl.export import export
    p = gen.config or {}
    paths = export(p.get("top", "system"), Path.cwd(), lanes=int(p.get("lanes", 1)),
                   fmt=p.get("fmt", "bf16"), table_log_max=int(p.get("table_log", 10)),
                   in_width=int(p.get("in_width", 4)), tokens=int(p.get("tokens", 4)),
                   engine=p.get("engine", "bf16"))
    gen.add_files([{paths["verilog"].name: {"file_type": "verilogSource"}}], fileset="rtl")
    gen.write()


if __name__ == "__main__":
    main()
