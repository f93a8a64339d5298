"""The components that the FPGA flows build, by name.

``make_top(name, lanes=..., ...)`` returns a fresh :class:`~amaranth.lib.wiring.Component`.
A top with several lanes lives in its own module and is plugged in through :data:`TOPS`: an
entry ``"module:Class"`` is imported only when built. ``decompressor`` with ``--lanes`` > 1 (and
``multilane`` with any ``--lanes``) is :class:`hdl.multilane.MultiLaneDecompressor`: one payload
stream dealt chunk by chunk to the lanes, values in beats of ``lanes``.
"""

import importlib
import inspect
import subprocess

__all__ = ["TOPS", "make_top", "TopError", "default_table_log", "source_version"]


class TopError(ValueError):
    pass


def _decoder(*, lanes, fmt, table_log_max, states):
    from hdl.decoder import TansDecoder
    if lanes != 1:
        raise TopError("top 'decoder' is one TansDecoder lane: --lanes must be 1")
    return TansDecoder(table_log_max=table_log_max, states=states, extra_max=16)


def _decompressor(*, lanes, fmt, table_log_max, states):
    if lanes != 1:
        return _plugin("multilane", lanes=lanes, fmt=fmt, table_log_max=table_log_max,
                       states=states)
    from hdl.decompressor import Decompressor
    return Decompressor(fmt, table_log_max=table_log_max, states=states)


def _compressor(*, lanes, fmt, table_log_max, states):
    from hdl.compressor import Compressor
    if lanes != 1:
        raise TopError("the compressor has one encoder lane so far: --lanes must be 1")
    return Compressor(fmt, table_log_max=table_log_max, states=states)


#: name -> factory(lanes=, fmt=, table_log_max=, states=) or "module:Class" (called the same way).
TOPS = {
    "decoder": _decoder,
    "decompressor": _decompressor,
    "compressor": _compressor,
    "multilane": "hdl.multilane:MultiLaneDecompressor",
}


def _plugin(name, **kwargs):
    module_name, class_name = TOPS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise TopError(
            f"{kwargs.get('lanes')} lanes need the multi-lane top {TOPS[name]}, which does not "
            f"exist yet; only --lanes 1 builds today") from None
    return getattr(module, class_name)(**kwargs)


def default_table_log():
    """The lane's own default ``table_log_max`` (the hardware's choice, kept in hdl/)."""
    from hdl.decoder import TansDecoder
    return inspect.signature(TansDecoder).parameters["table_log_max"].default


def make_top(name, *, lanes=1, fmt="bf16", table_log_max=None, states=2):
    """A new instance of top ``name`` (a key of :data:`TOPS`); ``table_log_max=None`` takes
    :func:`default_table_log`."""
    if table_log_max is None:
        table_log_max = default_table_log()
    if name not in TOPS:
        raise TopError(f"top must be one of {', '.join(TOPS)}, not {name!r}")
    factory = TOPS[name]
    kwargs = dict(lanes=lanes, fmt=fmt, table_log_max=table_log_max, states=states)
    if isinstance(factory, str):
        return _plugin(name, **kwargs)
    return factory(**kwargs)


def source_version():
    """The commit the hardware is built from; ``+dirty`` if its sources have local changes."""
    def git(*args):
        result = subprocess.run(["git", *args], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None
    commit = git("rev-parse", "--short", "HEAD")
    if commit is None:
        return None
    return commit + ("+dirty" if git("status", "--porcelain", "--", "hdl", "golden/layouts.py",
                                         "golden/codebooks.py") else "")
