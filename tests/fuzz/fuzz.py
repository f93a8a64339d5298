"""Coverage-guided fuzzing of the decoders with atheris (libFuzzer for Python): ``make fuzz``.

    python tests/fuzz/fuzz.py --runs 1000000              # every target, 1,000,000 inputs each
    python tests/fuzz/fuzz.py --runs 2000 --targets index  # a short run of one target

Each target (tests/fuzz/targets.py) runs in its own process, starting from its seed corpus in
tests/fuzz/corpus/TARGET/ (made by make_corpus.py; never written to) plus the inputs earlier runs
found (build/fuzz/corpus/TARGET/). The modules under test are instrumented for coverage; the
numba kernels are not (libFuzzer sees their callers). An input is a crash when the target raises
anything but the documented error, takes over ``--timeout`` seconds (a hang), or the process
passes ``--rss-limit-mb`` (a memory blow-up); crashing inputs are written to build/fuzz/.
The last lines printed are one per target: inputs run, seconds, crashes, hangs, peak RSS.
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BUILD = ROOT / "build" / "fuzz"
MAX_LEN = {"container": 16384, "index": 16384, "payload": 8192, "ebpc": 4096}
INSTRUMENTED = ["golden.format.container", "golden.ans.codec", "golden.format.codebooks",
                "golden.ebpc"]
# numba compiles these from their bytecode, which atheris' probes would break
NOT_INSTRUMENTED = ["golden.ebpc.kernels", "golden.ans.tans", "golden.ans.fast"]


def run_target(name, libfuzzer_args):
    """In this process: fuzz target ``name`` (libFuzzer exits when done)."""
    import atheris
    sys.path.insert(0, str(HERE))
    with atheris.instrument_imports(include=INSTRUMENTED, exclude=NOT_INSTRUMENTED):
        import targets
    if name == "ebpc" and not targets.HAVE_EBPC:
        print("Done 0 runs in 0 second(s) (golden.ebpc is not here)")
        sys.exit(0)
    target = targets.TARGETS[name]
    for seed in sorted((HERE / "corpus" / name).glob("*")):  # warm the numba caches
        target(seed.read_bytes())
    atheris.Setup([sys.argv[0], *libfuzzer_args], target)
    atheris.Fuzz()


def _stat(text, key):
    m = re.findall(rf"stat::{key}:\s*(\d+)", text)
    return int(m[-1]) if m else None


def fuzz(name, runs, *, timeout, rss_limit_mb, max_total_time=0, build=BUILD):
    """Fuzz one target in a child process; returns a dict of figures."""
    work = build / "corpus" / name
    artifacts = build / "artifacts" / name
    work.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    before = set(artifacts.iterdir())
    args = [f"-runs={runs}", f"-max_len={MAX_LEN[name]}", f"-timeout={timeout}",
            f"-rss_limit_mb={rss_limit_mb}", f"-artifact_prefix={artifacts}/",
            "-print_final_stats=1", "-close_fd_mask=1",
            *([f"-max_total_time={max_total_time}"] if max_total_time else []),
            str(work), *[str(d) for d in [HERE / "corpus" / name] if d.is_dir()]]
    start = time.time()
    proc = subprocess.run([sys.executable, __file__, "--run-target", name, "--", *args],
                          cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    seconds = time.time() - start
    log = proc.stdout + proc.stderr
    (build / f"{name}.log").write_text(log)
    new = sorted(set(artifacts.iterdir()) - before)
    crashes = [p for p in new if p.name.startswith(("crash-", "oom-"))]
    hangs = [p for p in new if p.name.startswith("timeout-")]
    done = re.findall(r"Done (\d+) runs in (\d+) second", log)
    executed = _stat(log, "number_of_executed_units")
    if executed is None and done:
        executed = int(done[-1][0])
    failed = proc.returncode != 0 and not crashes and not hangs
    return {"target": name, "runs": executed or 0, "seconds": seconds,
            "crashes": len(crashes) + int(failed), "hangs": len(hangs),
            "peak_rss_mb": _stat(log, "peak_rss_mb"), "artifacts": [str(p) for p in new],
            "returncode": proc.returncode, "skipped": "golden.ebpc is not here" in log}


def main(argv=None):
    if argv is None and "--run-target" in sys.argv:
        k = sys.argv.index("--run-target")
        return run_target(sys.argv[k + 1], sys.argv[sys.argv.index("--") + 1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=1_000_000, help="inputs per target")
    p.add_argument("--targets", default="container,index,payload,ebpc")
    p.add_argument("--timeout", type=int, default=10, help="seconds an input may take")
    p.add_argument("--rss-limit-mb", type=int, default=1024, help="memory a target may use")
    p.add_argument("--max-total-time", type=int, default=0, help="seconds per target (0: none)")
    p.add_argument("--build", type=Path, default=BUILD,
                   help=f"where found inputs, crashes and logs go (default {BUILD})")
    args = p.parse_args(argv)
    results = []
    for name in args.targets.split(","):
        r = fuzz(name, args.runs, timeout=args.timeout, rss_limit_mb=args.rss_limit_mb,
                 max_total_time=args.max_total_time, build=args.build)
        results.append(r)
        rate = r["runs"] / max(r["seconds"], 1e-9)
        note = " (skipped: golden.ebpc is not here)" if r["skipped"] else ""
        print(f"fuzz {r['target']:<9} {r['runs']:>9} inputs {r['seconds']:8.1f} s "
              f"{rate:8.0f}/s  crashes {r['crashes']}  hangs {r['hangs']}  "
              f"peak RSS {r['peak_rss_mb']} MB{note}", flush=True)
        for a in r["artifacts"]:
            print(f"  {a}")
    total = sum(r["runs"] for r in results)
    bad = sum(r["crashes"] + r["hangs"] for r in results)
    print(f"fuzz total {total} inputs, {sum(r['crashes'] for r in results)} crashes, "
          f"{sum(r['hangs'] for r in results)} hangs")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
