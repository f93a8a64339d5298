"""Checkpoint directories: a sharded safetensors checkpoint compressed as a directory.

A Hugging Face checkpoint is a directory: ``model.safetensors.index.json`` (which tensor lives
in which shard), the shards ``model-0000K-of-0000N.safetensors``, and small files beside them
(``config.json``, tokenizer files, sub-folders such as ``1_Pooling/``). Compressed, it is a
directory of the same tree in which every ``*.safetensors`` file is replaced by
``*.safetensors.ansn`` (an ordinary ``.ansn`` container) and every other file is copied as is,
the index included; decompressing turns it back, byte for byte (docs/format.md, section 9).

Both directions write into a hidden directory beside the output and rename it into place at
the end, so the output appears whole or not at all.
"""

import json
import os
import shutil
import tempfile

from . import container
from .container import AnsnError

__all__ = ["compress_directory", "decompress_directory", "shard_files", "SUFFIX"]

SUFFIX = ".ansn"
_INDEX_SUFFIX = ".safetensors.index.json"


def _tree(root):
    """Relative paths of the regular files under ``root``, sorted; a symbolic link to a file is
    read through, one to a directory is an error (it would not come back as it was)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            if os.path.islink(os.path.join(dirpath, d)):
                raise AnsnError(f"{os.path.join(dirpath, d)}: a linked directory is not "
                                f"followed")
        dirnames.sort()
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.isfile(path):
                raise AnsnError(f"{path}: not a regular file")
            files.append(os.path.relpath(path, root))
    return sorted(files)


def shard_files(root):
    """The shards that the ``*.safetensors.index.json`` files of ``root`` name, checked to be
    there: ``{index file: [shards]}``."""
    out = {}
    for rel in _tree(root):
        if not rel.endswith(_INDEX_SUFFIX):
            continue
        path = os.path.join(root, rel)
        with open(path, "rb") as f:
            text = f.read(container.MAX_HEADER_BYTES + 1)
        try:
            index = container.load_json(text, "index", max_depth=8, max_items=1 << 24)
            shards = sorted(set(index["weight_map"].values()))
            if not all(type(s) is str for s in shards):
                raise TypeError
        except (AnsnError, KeyError, TypeError, AttributeError):
            raise AnsnError(f"{path}: not a safetensors index (no weight_map)") from None
        here = os.path.dirname(rel)
        for s in shards:
            if os.path.basename(s) != s or not os.path.isfile(os.path.join(root, here, s)):
                raise AnsnError(f"{path} names shard {s!r}, which is not beside it")
        out[rel] = [os.path.join(here, s) for s in shards]
    return out


def _prepare_output(dst):
    parent = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(parent):
        raise AnsnError(f"{dst}: directory does not exist")
    if os.path.lexists(dst) and not (os.path.isdir(dst) and not os.listdir(dst)):
        raise AnsnError(f"{dst}: exists (the output directory must be new or empty)")
    return tempfile.mkdtemp(prefix=".ansnum-", dir=parent)


def _finish(tmp, dst):
    for dirpath, _, _ in os.walk(tmp):  # (mkdtemp makes 0700; mkdir gives what cp -r gives)
        os.chmod(dirpath, 0o777 & ~_mask())
    try:
        os.rmdir(dst)  # an empty directory may be replaced
    except FileNotFoundError:
        pass
    os.rename(tmp, dst)


def _copy(src, dst):
    with open(src, "rb") as f, container.AtomicFile(dst) as out:
        shutil.copyfileobj(f, out.file, 1 << 20)
        out.commit()


def _run(src, dst, convert, progress):
    if not os.path.isdir(src):
        raise AnsnError(f"{src}: not a directory")
    files = _tree(src)
    tmp = _prepare_output(dst)
    done = []
    try:
        made = set()
        for rel in files:
            target, action = convert(rel)
            if target in made:
                raise AnsnError(f"{os.path.join(src, rel)}: its output {target} is made twice")
            made.add(target)
            out = os.path.join(tmp, target)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            action(os.path.join(src, rel), out)
            done.append((rel, target))
        _finish(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return done


def _mask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def compress_directory(src, dst, progress=False, **options):
    """Compress a checkpoint directory ``src`` into a new directory ``dst``; returns the list of
    ``(input, output)`` relative paths. The index files' shards must all be there."""
    shard_files(src)

    def convert(rel):
        if rel.endswith(".safetensors"):
            return rel + SUFFIX, lambda a, b: container.compress_file(a, b, progress=progress,
                                                                      **options)
        return rel, _copy
    return _run(src, dst, convert, progress)


def decompress_directory(src, dst, progress=False, jobs=1):
    """Restore a directory made by :func:`compress_directory`, byte for byte."""
    def convert(rel):
        if rel.endswith(".safetensors" + SUFFIX):
            return rel[:-len(SUFFIX)], lambda a, b: container.decompress_file(
                a, b, progress=progress, jobs=jobs)
        return rel, _copy
    return _run(src, dst, convert, progress)
