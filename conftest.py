"""Test order for `make test` (pytest-xdist, --dist loadgroup): the multi-lane Verilator
harnesses first, the widest first, then the other harness groups, so that their long builds and runs start at once on the
workers and the many short tests fill in around them, instead of the 8-lane groups starting
last and running alone."""

import re


def _weight(item):
    mark = item.get_closest_marker("xdist_group")
    if not (mark and mark.args):
        return 0
    found = re.search(r"-(\d+)x\d+$", mark.args[0])
    return -int(found.group(1)) - 1 if found else -1


def pytest_collection_modifyitems(items):
    items.sort(key=_weight)             # (stable: the rest keep their order)
