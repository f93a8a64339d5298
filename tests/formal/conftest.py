"""`make formal`'s summary: one line per proof run (kind, depth, result, time)."""

import json


def pytest_terminal_summary(terminalreporter):
    rows = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", []):
                if key == "proof" and getattr(report, "when", "call") == "call":
                    rows.append(json.loads(value))
    if not rows:
        return
    terminalreporter.section("formal proofs")
    terminalreporter.write_line(f"{'proof':36} {'kind':6} {'depth':>5} {'result':6} "
                                f"{'CPU s':>7} {'wall s':>7}  properties; parameters")
    for r in sorted(rows, key=lambda r: r["name"]):
        terminalreporter.write_line(
            f"{r['name']:36} {r['mode']:6} {r['depth']:5} {'pass' if r['passed'] else 'FAIL':6} "
            f"{r['cpu']:7.1f} {r['seconds']:7.1f}  {r['what']}; {r['params']}")
