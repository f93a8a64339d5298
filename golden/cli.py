"""``ansnum``: compress safetensors files losslessly, restore them byte for byte, show statistics,
write RTL test vectors.

Every failure prints one line ``ansnum: error: ...`` on stderr and exits with status 1 (2 for a
bad command line); no partial output file is left behind.
"""

import argparse
import json
import os
import re
import signal
import sys

from .ans import codec
from .format import checkpoint, codebooks, container
from .format.fields import TABLE_LOG_MAX, TABLE_LOG_MIN
from .jobs import default_jobs

__all__ = ["main"]


def _table_log(text):
    v = int(text)
    if not TABLE_LOG_MIN <= v <= TABLE_LOG_MAX:
        raise argparse.ArgumentTypeError(f"must be {TABLE_LOG_MIN} .. {TABLE_LOG_MAX}")
    return v


def _chunk_pairs(text):
    v = int(text)
    if not 1 <= v <= codec.MAX_CHUNK_PAIRS:
        raise argparse.ArgumentTypeError(f"must be 1 .. {codec.MAX_CHUNK_PAIRS}")
    return v


def _regex(text):
    try:
        re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"bad regular expression: {e}")
    return text


def _jobs(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return v


def _jobs_option(p):
    p.add_argument("-j", "--jobs", type=_jobs, default=None,
                   help="threads to code tensors and chunks on (default: every core this "
                        "process may use); the output is the same for any number")


def _coding_options(p):
    p.add_argument("--codebook", default="auto",
                   help="code book for float tensors (default: the smallest lossless one "
                        "per tensor; see `ansnum codebooks`)")
    p.add_argument("--table-log", type=_table_log, default=codec.DEFAULT_TABLE_LOG,
                   help=f"largest table log to use, {TABLE_LOG_MIN}..{TABLE_LOG_MAX} "
                        f"(default {codec.DEFAULT_TABLE_LOG})")
    p.add_argument("--chunk-pairs", type=_chunk_pairs, default=codec.DEFAULT_CHUNK_PAIRS,
                   help=f"pairs per independent chunk (default {codec.DEFAULT_CHUNK_PAIRS})")
    p.add_argument("--states", type=int, choices=codec.STATE_CHOICES, default=codec.DEFAULT_STATES,
                   help=f"interleaved ANS states per chunk (default {codec.DEFAULT_STATES})")
    p.add_argument("--tensors", type=_regex, default=None,
                   help="compress only tensors whose name matches this regex (others raw)")


def _options(args):
    if args.codebook != "auto":
        codebooks.get(args.codebook)
    return dict(codebook=args.codebook, table_log=args.table_log,
                chunk_pairs=args.chunk_pairs, states=args.states, tensors_regex=args.tensors,
                jobs=args.jobs or default_jobs())


def _progress(args):
    return not args.quiet and sys.stderr.isatty()


def _tree_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def cmd_compress(args):
    if os.path.isdir(args.input):
        files = checkpoint.compress_directory(args.input, args.output, progress=_progress(args),
                                              **_options(args))
        if not args.quiet:
            size, out = _tree_size(args.input), _tree_size(args.output)
            print(f"{args.input}: {len(files)} files, {size} -> {out} bytes, "
                  f"ratio {size / max(1, out):.4f}")
        return
    index = container.compress_file(args.input, args.output, progress=_progress(args),
                                    **_options(args))
    if not args.quiet:
        out = os.path.getsize(args.output)
        print(f"{args.input}: {index['source']['size']} -> {out} bytes, "
              f"ratio {index['source']['size'] / out:.4f}")


def cmd_decompress(args):
    if os.path.isdir(args.input):
        files = checkpoint.decompress_directory(args.input, args.output,
                                                progress=_progress(args),
                                                jobs=args.jobs or default_jobs())
        if not args.quiet:
            print(f"{args.output}: {len(files)} files, {_tree_size(args.output)} bytes, "
                  f"SHA-256 verified")
        return
    container.decompress_file(args.input, args.output, progress=_progress(args),
                              jobs=args.jobs or default_jobs())
    if not args.quiet:
        print(f"{args.output}: {os.path.getsize(args.output)} bytes, SHA-256 verified")


def cmd_stats(args):
    rows, totals = container.analyse_file(args.input, progress=_progress(args),
                                          **_options(args))
    if args.json:
        json.dump({"tensors": rows, "totals": totals}, sys.stdout, indent=1)
        print()
        return
    name_w = max([len(r["name"]) for r in rows] + [6])
    print(f"{'tensor':<{name_w}} {'dtype':>6} {'elements':>10} {'raw':>10} {'compr.':>10} "
          f"{'ratio':>7} {'bound':>7}  codebook")
    for r in rows:
        print(f"{r['name']:<{name_w}} {r['dtype']:>6} {r['elements']:>10} {r['raw_bytes']:>10} "
              f"{r['compressed_bytes']:>10} {r['ratio']:>7.4f} "
              f"{r['raw_bytes'] / max(1, r['bound_bytes']):>7.4f}  {r['codebook']}"
              + (f"/{r['table_log']}" if r["table_log"] else ""))
    t = totals
    print(f"{'total':<{name_w}} {'':>6} {'':>10} {t['raw_bytes']:>10} {t['compressed_bytes']:>10} "
          f"{t['ratio']:>7.4f} {t['bound_ratio']:>7.4f}")
    print(f"file: {t['file_bytes_in']} -> {t['file_bytes_out']} bytes, "
          f"ratio {t['file_ratio']:.4f} (headers and index included)")


def _write_hex(path, words, width):
    with open(path, "w") as f:
        f.write("".join(f"{int(w):0{width}x}\n" for w in words))


def cmd_vectors(args):
    """Per tensor: table image, payload words and expected values, as hex (one per line)."""
    from safetensors.numpy import load_file  # noqa: F401 (dependency check)
    with open(args.input, "rb") as f:
        buf = f.read()
    header_len, tensors = container.parse_safetensors(buf)
    pattern = re.compile(args.tensors) if args.tensors else None
    os.makedirs(args.outdir, exist_ok=True)
    manifest = []
    for t in tensors:
        if pattern and not pattern.search(t["name"]):
            continue
        candidates = container._candidates(t["dtype"], args.codebook)
        if not candidates:
            continue
        values = container._value_view(buf[t["begin"]:t["end"]], t["dtype"])
        if args.max_elements:
            values = values[:args.max_elements]
        if not len(values):
            continue
        table, payload, _ = codec.compress_values(
            values, candidates, max_table_log=args.table_log, chunk_pairs=args.chunk_pairs,
            states=args.states)
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", t["name"])
        _write_hex(os.path.join(args.outdir, stem + ".table.hex"), table.image(), 8)
        _write_hex(os.path.join(args.outdir, stem + ".payload.hex"), payload, 8)
        _write_hex(os.path.join(args.outdir, stem + ".values.hex"), values,
                   2 * values.dtype.itemsize)
        manifest.append({"tensor": t["name"], "stem": stem, "elements": int(len(values)),
                         "payload_words": int(len(payload)), "table": table.to_json(),
                         "states": args.states, "chunk_pairs": args.chunk_pairs})
    with open(os.path.join(args.outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    if not args.quiet:
        print(f"{args.outdir}: vectors for {len(manifest)} tensors")


def cmd_codebooks(args):
    for b in codebooks.CODEBOOKS.values():
        print(f"{b.name:<18} id {b.ident:>3}  {b.n_codes:>3} codes  extra "
              f"{int(b.widths.min())}..{int(b.widths.max())} bits  "
              f"{'lossless' if b.lossless else 'LOSSY'}  {' '.join(b.dtypes) or '(explicit)'}")


def build_parser():
    p = argparse.ArgumentParser(prog="ansnum", description=__doc__.split("\n\n")[0])
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compress", help="IN.safetensors -> OUT.ansn (a checkpoint directory -> "
                                        "a directory)")
    c.add_argument("input")
    c.add_argument("output")
    _coding_options(c)
    _jobs_option(c)
    c.set_defaults(func=cmd_compress)

    d = sub.add_parser("decompress", help="IN.ansn -> OUT.safetensors (byte-identical; a "
                                          "directory -> a directory)")
    d.add_argument("input")
    d.add_argument("output")
    _jobs_option(d)
    d.set_defaults(func=cmd_decompress)

    s = sub.add_parser("stats", help="per-tensor ratio against the entropy bound")
    s.add_argument("input")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    _coding_options(s)
    _jobs_option(s)
    s.set_defaults(func=cmd_stats)

    v = sub.add_parser("vectors", help="write RTL test vectors (hex) for a safetensors file")
    v.add_argument("input")
    v.add_argument("outdir")
    v.add_argument("--max-elements", type=int, default=0,
                   help="cut every tensor to its first N elements")
    _coding_options(v)
    v.set_defaults(func=cmd_vectors)

    k = sub.add_parser("codebooks", help="list the built-in code books")
    k.set_defaults(func=cmd_codebooks)
    return p


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Python is so that outputs in progress are dropped."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def main(argv=None):
    args = build_parser().parse_args(argv)
    handlers = {}
    try:
        for s in (signal.SIGTERM, signal.SIGHUP):
            handlers[s] = signal.signal(s, _raise_interrupted)
    except ValueError:  # not the main thread: signals stay as they are
        pass
    try:
        if hasattr(args, "codebook") and args.codebook != "auto":
            codebooks.get(args.codebook)
        args.func(args)
    except (container.AnsnError, codebooks.CodeBookError, codec.PayloadError) as e:
        print(f"ansnum: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"ansnum: error: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return 1
    except Interrupted as e:
        print(f"ansnum: interrupted ({signal.Signals(e.signum).name})", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("ansnum: interrupted", file=sys.stderr)
        return 130
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    return 0


if __name__ == "__main__":
    sys.exit(main())
