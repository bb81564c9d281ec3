#!/usr/bin/python3
"""Parse and summarize what bench/run measured.  Python 3 stdlib only.

  summary.py wrk FILE
      one line from a wrk --latency output:
      "RPS P50_US P90_US P99_US NON2XX SOCKET_ERRORS REQUESTS"

  summary.py report RESULTS [ANNOTATE_DIR]
      the final summary.  RESULTS holds lines
        meta KEY VALUE...
        wrk ROUND VARIANT RPS P50_US P90_US P99_US WORKER_CPU_NS_PER_REQ
        cg VARIANT IR REQUESTS
        cgsweep VARIANT IR REQUESTS
      ANNOTATE_DIR, when given, holds callgrind_annotate outputs
      (self-VARIANT.txt, incl-oc.txt, incl-tenant.txt).  The tenant
      variant (a family's ready tenant) is optional: results without it
      are summarized as before.
"""

import os
import re
import statistics
import sys

ALL_VARIANTS = ("plain", "static", "oc", "tenant")
VARIANTS = ALL_VARIANTS
LABEL = {
    "plain": "plain proxy_pass",
    "static": "static proxy_set_header Authorization",
    "oc": "oc_pass",
    "tenant": "oc_pass, a family's ready tenant",
}
TARGET_RATIO = 0.97     # oc_pass rps / static header rps, at least
TARGET_EXTRA_IR = 300   # oc_pass instructions per request - plain, at most

UNIT_US = {"us": 1.0, "ms": 1000.0, "s": 1e6, "m": 60e6, "h": 3600e6}


def to_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError("latency %r" % text)
    return float(m.group(1)) * UNIT_US[m.group(2)]


def parse_wrk(path):
    with open(path) as f:
        text = f.read()
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not m:
        raise SystemExit("summary.py: no Requests/sec in %s" % path)
    rps = float(m.group(1))
    pct = {}
    for p, v in re.findall(r"^\s+(50|90|99)(?:\.000)?%\s+(\S+)\s*$", text,
                           re.M):
        pct[p] = to_us(v)
    if set(pct) != {"50", "90", "99"}:
        raise SystemExit("summary.py: no latency distribution in %s "
                         "(wrk --latency)" % path)
    m = re.search(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", text, re.M)
    non2xx = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", text)
    errors = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"^\s*(\d+) requests in ", text, re.M)
    if not m or int(m.group(1)) == 0:
        raise SystemExit("summary.py: no requests in %s" % path)
    return (rps, pct["50"], pct["90"], pct["99"], non2xx, errors,
            int(m.group(1)))


def fmt_us(us):
    if us >= 1000:
        return "%.2fms" % (us / 1000)
    return "%.0fus" % us


def parse_annotate(path):
    """[(Ir, function, object)] from a callgrind_annotate listing, most
    expensive first; recursion levels (func'2) are folded into func."""
    rows = {}
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)"
                         r"(?:\s+\[(.*)\])?\s*$", line)
            if not m or "PROGRAM TOTALS" in line:
                continue
            name = m.group(2)
            if ":" not in name:
                continue
            name = re.sub(r"'\d+$", "", name)
            obj = m.group(3) or ""
            if not obj and ":ngx_oc_" in name:
                obj = "ngx_oc_module.so"    # an inlined helper's lines
            key = (name, obj)
            rows[key] = rows.get(key, 0) + int(m.group(1).replace(",", ""))
    return sorted(((c, k[0], k[1]) for k, c in rows.items()), reverse=True)


def count_calls(dump, func):
    """How many calls the callgrind dump records to the function named
    func (from any caller), or None without the dump."""
    if not os.path.exists(dump):
        return None
    names, total, target = {}, 0, False
    with open(dump) as f:
        for line in f:
            m = re.match(r"^(c?)fn=\((\d+)\)(?: (.*))?$", line)
            if m:
                if m.group(3):
                    names[m.group(2)] = m.group(3).strip()
                target = bool(m.group(1)) and names.get(m.group(2)) == func
                continue
            m = re.match(r"^calls=(\d+)", line)
            if m and target:
                total += int(m.group(1))
                target = False
    return total


def short(name):
    # "/path/ngx_oc_handler.c:ngx_oc_inject" -> "ngx_oc_handler.c:..."
    file, _, func = name.rpartition(":")
    return "%s:%s" % (os.path.basename(file), func) if file else name


def report(results, annotate_dir):
    global VARIANTS
    meta, wrk, cg, sweep = {}, {v: [] for v in ALL_VARIANTS}, {}, {}
    with open(results) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "meta":
                meta[w[1]] = " ".join(w[2:])
            elif w[0] == "wrk":
                wrk[w[2]].append((int(w[1]), float(w[3]), float(w[4]),
                                  float(w[5]), float(w[6]), float(w[7])))
            elif w[0] == "cg":
                cg[w[1]] = (int(w[2]), int(w[3]))
            elif w[0] == "cgsweep":
                sweep[w[1]] = (int(w[2]), int(w[3]))

    # an older run, or one without the family's variant
    if not wrk["tenant"] and "tenant" not in cg:
        VARIANTS = ALL_VARIANTS[:3]

    out = []
    p = out.append
    p("=" * 72)
    p("ngx_oc_module benchmark summary")
    p("=" * 72)
    for k in ("date", "host", "cpu", "kernel", "nginx", "module", "client",
              "load"):
        if k in meta:
            p("%-8s %s" % (k + ":", meta[k]))
    for k in ("wrk", "sweep"):
        if k in meta:
            p("%-8s %s" % (k + ":", meta[k]))
    p("")

    med, paired_ratio, cpu_ratio = {}, {}, {}
    if all(wrk[v] for v in VARIANTS):
        p("Throughput and latency (wrk; median over %d alternating rounds)"
          % len(wrk["oc"]))
        p("  %-38s %7s %7s %7s %7s %7s %8s" % (
            "variant", "req/s", "best", "p50", "p90", "p99", "CPU/req"))
        best, cpu = {}, {}
        for v in VARIANTS:
            rows = wrk[v]
            med[v] = statistics.median(r[1] for r in rows)
            best[v] = max(r[1] for r in rows)
            cpu[v] = statistics.median(r[5] for r in rows)
            p("  %-38s %7.0f %7.0f %7s %7s %7s %6.2fus" % (
                LABEL[v], med[v], best[v],
                fmt_us(statistics.median(r[2] for r in rows)),
                fmt_us(statistics.median(r[3] for r in rows)),
                fmt_us(statistics.median(r[4] for r in rows)),
                cpu[v] / 1000))
        p("  req/s per round:")
        for v in VARIANTS:
            p("    %-7s %s" % (v, " ".join("%.0f" % r[1]
                                          for r in sorted(wrk[v]))))

        def paired(a, b, i, invert=False):
            rounds = {r[0]: r[i] for r in wrk[b]}
            ratios = [r[i] / rounds[r[0]] for r in wrk[a] if r[0] in rounds]
            m = statistics.median(ratios)
            return 1 / m if invert else m

        p("  throughput ratios   req/s:  paired  of medians  of bests"
          "   CPU/req: paired")
        pairs = [("oc", "static"), ("oc", "plain"), ("static", "plain")]
        if "tenant" in VARIANTS:
            pairs += [("tenant", "plain"), ("tenant", "oc")]
        for a, b in pairs:
            paired_ratio[a, b] = paired(a, b, 1)
            cpu_ratio[a, b] = paired(a, b, 5, invert=True)
            p("    %-12s %20.3f %11.3f %9.3f %17.3f" % (
                a + "/" + b, paired_ratio[a, b], med[a] / med[b],
                best[a] / best[b], cpu_ratio[a, b]))
        p("  (paired: the median over rounds of the ratio within a round;")
        p("   CPU/req: the nginx worker's CPU time per request, which serves")
        p("   the upstream too, as a ratio b/a: the throughput ratio with the")
        p("   worker saturated, and the least moved by other load)")
        p("")

    def instructions(title, counts):
        ir = {v: counts[v][0] / counts[v][1] for v in VARIANTS}
        p(title)
        for v in VARIANTS:
            p("  %-40s %10.0f Ir/req  (%d Ir / %d)" % (
                LABEL[v], ir[v], counts[v][0], counts[v][1]))
        p("  differences: oc-plain %+.0f, static-plain %+.0f, "
          "oc-static %+.0f Ir/req" % (ir["oc"] - ir["plain"],
                                      ir["static"] - ir["plain"],
                                      ir["oc"] - ir["static"]))
        if "tenant" in ir:
            p("  tenant-plain %+.0f, tenant-oc %+.0f Ir/req" % (
                ir["tenant"] - ir["plain"], ir["tenant"] - ir["oc"]))
        p("")
        return ir

    ir = sir = {}
    if all(v in cg for v in VARIANTS):
        ir = instructions("Instructions per proxied request (callgrind, "
                          "steady state, one request shape)", cg)
    if all(v in sweep for v in VARIANTS):
        sir = instructions("Instructions per proxied request, averaged over "
                           "request sizes (the sweep)", sweep)

    for pv in ("oc", "tenant"):
        if annotate_dir and pv in cg and pv in VARIANTS:
            profile(p, annotate_dir, cg, pv)

    p("Targets (information only; not asserted)")
    if med:
        for what, r in (("req/s", paired_ratio["oc", "static"]),
                        ("CPU/req", cpu_ratio["oc", "static"])):
            p("  oc_pass throughput >= %.2f x static, %-16s %6.3f  %s" % (
                TARGET_RATIO, what + ":", r,
                "PASS" if r >= TARGET_RATIO else "MISS"))
    else:
        p("  oc_pass throughput >= %.2f x static header:  not measured"
          % TARGET_RATIO)
    for what, counts in (("one request shape", ir),
                         ("averaged over sizes", sir)):
        if counts:
            d = counts["oc"] - counts["plain"]
            p("  oc_pass - plain <= %d Ir/req, %-20s %+5.0f  %s"
              "  (static - plain: %+.0f)" % (
                  TARGET_EXTRA_IR, what + ":", d,
                  "PASS" if d <= TARGET_EXTRA_IR else "MISS",
                  counts["static"] - counts["plain"]))
            if "tenant" in counts:
                d = counts["tenant"] - counts["plain"]
                p("  tenant - plain <= %d Ir/req, %-21s %+5.0f  %s" % (
                    TARGET_EXTRA_IR, what + ":", d,
                    "PASS" if d <= TARGET_EXTRA_IR else "MISS"))
    if not ir and not sir:
        p("  oc_pass - plain <= %d Ir/req:  not measured" % TARGET_EXTRA_IR)
    p("=" * 72)
    print("\n".join(out))


def profile(p, annotate_dir, cg, pv):
    """the module's part of variant pv (oc or tenant), by function"""
    n = cg[pv][1]
    prof = {v: parse_annotate(os.path.join(annotate_dir,
                                           "self-%s.txt" % v))
            for v in VARIANTS}
    incl = parse_annotate(os.path.join(annotate_dir, "incl-%s.txt" % pv))
    p("%s profile (callgrind_annotate of the %s variant, Ir per "
      "request)" % (LABEL[pv], pv))
    p("  ngx_oc_module.so, self cost:")
    mod = [r for r in prof[pv] if "ngx_oc_module.so" in r[2]]
    for c, name, obj in mod:
        p("    %8.1f  %s" % (c / n, short(name)))
    if not mod:
        p("    (none)")
    p("    %8.1f  all of ngx_oc_module.so" % (sum(r[0] for r in mod) / n))
    for c, name, obj in incl:
        if name.endswith(":ngx_oc_handler"):
            p("    %8.1f  ngx_oc_handler inclusive (the whole "
              "PRECONTENT step)" % (c / n))
            break
    if prof["plain"] and prof[pv]:
        p("  where %s differs from plain, by function (self cost, "
          "%s - plain):" % (pv, pv))
        a = {(r[1], r[2]): r[0] / cg["plain"][1] for r in prof["plain"]}
        b = {(r[1], r[2]): r[0] / n for r in prof[pv]}
        diff = sorted(((b.get(k, 0) - a.get(k, 0), k)
                       for k in set(a) | set(b)), reverse=True)
        for d, (name, obj) in diff[:14]:
            if d >= 5:
                p("    %+8.1f  %s [%s]" % (d, short(name),
                                          os.path.basename(obj)))
        calls = {v: count_calls(os.path.join(annotate_dir,
                                             "dump-%s.out" % v),
                                "ngx_memalign") for v in VARIANTS}
        if all(v in cg and calls[v] is not None for v in VARIANTS):
            p("  request pool blocks (ngx_memalign calls) per request: "
              + ", ".join("%s %.2f" % (v, calls[v] / cg[v][1])
                          for v in VARIANTS))
    p("")


def main(argv):
    if len(argv) >= 2 and argv[0] == "wrk":
        print("%.2f %.1f %.1f %.1f %d %d %d" % parse_wrk(argv[1]))
    elif len(argv) >= 2 and argv[0] == "report":
        report(argv[1], argv[2] if len(argv) > 2 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
