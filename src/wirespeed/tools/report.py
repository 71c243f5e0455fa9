"""The bench report: from results.json to report.html (one self-contained file: plots embedded
as PNG, tables, captions) and the plot images beside it. Pure: no root, no measurement, so a
stored results.json renders anywhere. Plots with matplotlib (Agg: no display needed).

The page checks itself when it loads (every image decoded, every section holding a figure or
a table or saying why it was skipped, no script error) and writes the verdict on <body
data-check=...>: what a headless browser test reads.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os

SECTION_TITLES = {
    "budget": "1. The per-packet budget, and what each primitive costs here",
    "amortisation": "2. Amortisation: one cost per batch",
    "transmit": "3. Transmit: every backend against the peers",
    "receive": "4. Receive: every backend against the in-kernel ceiling",
    "queueing": "5. Queueing: bulk dequeue and the empty-queue bypass",
    "memory": "6. Memory: malloc against the pool",
    "forwarding": "7. Forwarding: wirespeed fwd against Linux",
    "latency": "8. Latency under load: batching must not cost latency",
    "where": "9. Where the time per packet goes",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _f(v, digits: int = 0) -> str:
    if v is None:
        return "–"
    if isinstance(v, dict):
        v = v.get("median")
        if v is None:
            return "–"
    return f"{v:,.{digits}f}"


def _spread(m: dict | None) -> str:
    if not m or m.get("median") is None or len(m.get("runs", [])) < 2:
        return ""
    return f" ({m['min']:,.0f}–{m['max']:,.0f})"


def _table(head: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{html.escape(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


# -- one figure and one table per section -----------------------------------------------------------

def budget_section(d: dict):
    plt = _plt()
    prof = [p for p in d["profile"] if p["ns"] is not None]
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(prof) + 1))
    ax.barh([p["label"] for p in prof], [max(p["ns"], 0.01) for p in prof], color="#4a7bb7")
    ax.axvline(d["selected"]["ns"], color="#c0392b", ls="--", label=f"10G/64 budget: {d['selected']['ns']:.1f} ns")
    ax.set_xscale("log")
    ax.set_xlabel("ns per operation (measured here; log scale)")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    rows = [[b["link"], b["frame"], _f(b["ns"], 1), f"{b['pps']:,}", _f(b["cycles"])] for b in d["budget"]]
    prow = [[p["label"], _f(p["ns"], 2), f"{100 * p['share']:.1f} %", p["reference"]["text"] if p["reference"] else ""]
            for p in d["profile"]]
    return _png(fig), (_table(["link", "frame", "ns/pkt", "pps", "cycles/pkt"], rows) +
                       _table(["operation", "ns here", "of 10G/64", "published (not this host)"], prow))


def amortisation_section(d: dict):
    plt = _plt()
    rows = d["rows"]
    fig, ax = plt.subplots(figsize=(7, 4))
    b = [r["batch"] for r in rows]
    ax.plot(b, [r["lock_ns"] for r in rows], "o-", label="one LOCK cmpxchg per batch")
    ax.plot(b, [r["syscall_ns"] for r in rows], "s-", label="one system call per batch")
    ax.axhline(d["budget_ns"], color="#c0392b", ls="--", label=f"10G/64 budget {d['budget_ns']:.1f} ns")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size (packets)")
    ax.set_ylabel("ns per packet")
    ax.legend()
    table = _table(["batch", "LOCK ns/pkt", "syscall ns/pkt"],
                   [[str(r["batch"]), _f(r["lock_ns"], 2), _f(r["syscall_ns"], 2)] for r in rows])
    return _png(fig), table


def transmit_section(d: dict):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    rows = []
    for be, per in d["backends"].items():
        pts = sorted((int(b), v["pps"]["median"]) for b, v in per.items() if v["pps"]["median"])
        if len(pts) == 1:  # one batch: the in-kernel generator, whose batch is the kernel's
            ax.axhline(pts[0][1], color="#2c7a4b", ls=":", label=f"{be} (in-kernel generator) {pts[0][1] / 1e6:.2f} Mpps")
        else:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"wirespeed {be}")
        for b, v in sorted(per.items(), key=lambda kv: int(kv[0])):
            a = v["agreement"]
            rows.append([be, b, _f(v["pps"]) + _spread(v["pps"]), _f(v["ns_per_pkt"], 1), _f(v["cpu_ns_per_pkt"], 1),
                         _f(v["syscalls_per_pkt"], 4) if v["syscalls_per_pkt"]["median"] is not None else "–",
                         "yes" if a["agree"] else f"NO ({100 * a['difference']:.2f} %)"])
    colors = {"trafgen": "#8e44ad", "iperf3": "#d35400", "sockperf": "#7f8c8d"}
    for cmd, p in d["peers"].items():
        if "pps" in p and p["pps"]["median"]:
            ax.axhline(p["pps"]["median"], color=colors.get(cmd, "k"), ls="--", label=f"{cmd}: {p['pps']['median']:,.0f}")
            rows.append([cmd + " (peer)", "", _f(p["pps"]) + _spread(p["pps"]), "", "", "", ""])
        else:
            rows.append([cmd + " (peer)", "", "skipped: " + p.get("skipped", "?"), "", "", "", ""])
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size (frames per system call)")
    ax.set_ylabel("packets per second")
    ax.legend(fontsize=8)
    return _png(fig), _table(["sender", "batch", "pps (interface)", "data path ns/pkt", "CPU ns/pkt", "syscalls/pkt",
                              "own count = interface"], rows)


def receive_section(d: dict):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    items = [(be, v) for be, v in d["backends"].items()]
    ax.bar([be for be, _ in items], [v["received_pps"]["median"] or 0 for _, v in items], color="#4a7bb7")
    ceiling = d["backends"].get("xdp-count", {}).get("received_pps", {}).get("median")
    if ceiling:
        ax.axhline(ceiling, color="#c0392b", ls="--", label=f"in-kernel drop-and-count {ceiling / 1e6:.2f} Mpps")
        ax.legend()
    ax.set_ylabel("packets per second received")
    rows = [[be, _f(v["received_pps"]) + _spread(v["received_pps"]), _f(v["offered_pps"]),
             f"{100 * (v['loss']['median'] or 0):.2f} %",
             "yes" if v["agreement"]["agree"] else f"NO ({100 * v['agreement']['difference']:.2f} %)"]
            for be, v in items]
    return _png(fig), _table(["receiver", "received pps", "offered pps", "loss", "generator = interface"], rows)


def queueing_section(d: dict):
    plt = _plt()
    rows = d["rows"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    b = [r["batch"] for r in rows]
    for key, label in (("no_bulk", "no bulk, no bypass"), ("bulk", "bulk dequeue"), ("bulk_bypass", "bulk + bypass")):
        a1.plot(b, [max(r[key]["lock_ops_per_pkt"], 1e-4) for r in rows], "o-", label=label)
        a2.plot(b, [r[key]["ns_per_pkt"] for r in rows], "o-", label=label)
    for a, y in ((a1, "LOCK operations per packet"), (a2, "ns per packet")):
        a.set_xscale("log", base=2)
        a.set_yscale("log")
        a.set_xlabel("batch size")
        a.set_ylabel(y)
        a.legend(fontsize=8)
    table = _table(["batch", "no bulk LOCK/pkt", "ns", "bulk LOCK/pkt", "ns", "bulk+bypass LOCK/pkt", "ns"],
                   [[str(r["batch"])] + [x for k in ("no_bulk", "bulk", "bulk_bypass")
                                         for x in (_f(r[k]["lock_ops_per_pkt"], 3), _f(r[k]["ns_per_pkt"], 2))]
                    for r in rows])
    return _png(fig), table


def memory_section(d: dict):
    plt = _plt()
    m = d["micro_ns"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    keys = list(m)
    a1.barh(keys, [m[k] for k in keys], color=["#c0392b" if k.startswith("malloc") else "#4a7bb7" for k in keys])
    a1.set_xlabel("ns per alloc+free")
    a1.invert_yaxis()
    fw = d["forwarding"]
    a2.bar(list(fw), [fw[k]["pps"] for k in fw], color=["#4a7bb7", "#c0392b"][: len(fw)])
    a2.set_ylabel("packets per second forwarded")
    rows = [[k, _f(v, 2)] for k, v in m.items()]
    rows += [[f"forwarding, {k} buffers", f"{_f(v['pps'])} pps, CPU {_f(v.get('cpu_ns_per_pkt'), 1)} ns/pkt"]
             for k, v in fw.items()]
    if "pool" in fw and "malloc" in fw and fw["pool"].get("cpu_ns_per_pkt") and fw["malloc"].get("cpu_ns_per_pkt"):
        rows.append(["the pool saves in forwarding", f"{fw['malloc']['cpu_ns_per_pkt'] - fw['pool']['cpu_ns_per_pkt']:,.1f} "
                                                    "ns of CPU per packet"])
    return _png(fig), _table(["", "ns"], rows)


def forwarding_section(d: dict):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for hook in ("none", "mac-swap"):
        pts = sorted((int(k.split("@")[1]), v["median"]) for k, v in d["pps"].items()
                     if k.startswith(hook + "@") and v["median"])
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-",
                    label=f"wirespeed fwd, {'no hook' if hook == 'none' else 'numpy ' + hook + ' hook'}")
    linux = d["pps"].get("linux", {}).get("median")
    if linux:
        ax.axhline(linux, color="#2c7a4b", ls="--", label=f"Linux IP forwarding {linux:,.0f}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("packets per second forwarded")
    ax.legend(fontsize=8)
    from wirespeed.tools import drops

    dropped: dict[str, list] = {}
    for r in d["rows"]:  # the last repetition's reasons for each configuration
        key = "linux" if r["hook"] == "linux" else f"{r['hook']}@{r['batch']}"
        dropped[key] = r.get("drops") or dropped.get(key, [])
    rows = [[k, _f(v) + _spread(v), drops.text(dropped.get(k, [])) or "-"] for k, v in d["pps"].items()]
    for dut, s in d.get("search", {}).items():
        if "skipped" in s:
            rows.append([f"search {dut}", "skipped: " + s["skipped"], ""])
        else:
            rows += [[f"{g} of {dut} (RFC 9971, quick)", f"{_f(v['pps'])} pps" + ("" if v["regular"] else
                                                                                  f" (irregular: {v['irregular_because']})")
                      + (f"; the tester's ceiling {_f(v['tester_pps'])} pps, {v.get('tester_bound_trials') or 0} "
                         f"tester-bound trial(s)" if v.get("tester_pps") else ""),
                      ", ".join(f"{100 * x['share']:.0f} % {x['where']}" for x in v.get("loss_reasons") or ()) or "-"]
                     for g, v in s.items()]
    return _png(fig), _table(["configuration (hook@batch)", "packets per second",
                              "where the frames were dropped (kernel reasons, top 3)"], rows)


def latency_section(d: dict):
    plt = _plt()
    rows = d["rows"]
    fig, ax = plt.subplots(figsize=(8, 4))
    fracs = sorted({r["fraction"] for r in rows})
    w = 0.2
    for i, (b, pct) in enumerate(((1, "p50_ns"), (64, "p50_ns"), (1, "p99_ns"), (64, "p99_ns"))):
        ys = [next((r[pct]["median"] or 0) / 1000 for r in rows if r["fraction"] == f and r["batch"] == b) for f in fracs]
        ax.bar([x + (i - 1.5) * w for x in range(len(fracs))], ys, w, label=f"-b {b} {pct[:-3]}")
    ax.set_xticks(range(len(fracs)), [f"{int(100 * f)} % of {d['ceiling_pps']:,.0f} pps" for f in fracs])
    floor = d.get("floor") or {}
    v = (floor.get("kernel_tx_p50_ns") or {}).get("median")
    if v:  # the veth and the receiver, the sender's own delay taken off: what no path measured by it can go below
        ax.axhline(v / 1000, color="0.3", linestyle=":", linewidth=1.2,
                   label=f"tester's floor p50, from the kernel's transmit stamp ({v / 1000:,.3f} µs)")
    ax.set_ylabel("one-way latency, µs")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ns = lambda v: _f(v / 1000, 3) if v is not None else "–"  # noqa: E731  (µs with ns)
    table = _table(["load", "batch", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "received pps", "lost", "errors"],
                   [[f"{int(100 * r['fraction'])} %", str(r["batch"])] +
                    [ns(r[k]["median"]) for k in ("p50_ns", "p90_ns", "p99_ns", "p99_9_ns")] +
                    [_f(r["received_pps"]), str(r["lost"]), str(r.get("errors", "–"))]
                    for r in rows]
                   + ([[f"floor: {_f(floor['pps'])} pps, own stamp", "1", ns(floor["p50_ns"]["median"]), "–",
                        ns(floor["p99_ns"]["median"]), "–", "–", "–", "–"],
                       ["floor: kernel transmit stamp", "1", ns(floor["kernel_tx_p50_ns"]["median"]), "–",
                        ns(floor["kernel_tx_p99_ns"]["median"]), "–", "–", "–", "–"]] if floor else []))
    return _png(fig), table


def where_section(d: dict):
    rows = d["rows"]
    if any(r.get("stages") for r in rows):
        return _where_by_stage(d)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    names = [r["backend"] for r in rows]
    user, sysc, kern = [r["user_ns"] for r in rows], [r["syscall_ns"] for r in rows], [r["kernel_ns"] for r in rows]
    ax.bar(names, user, label="user: our C work (and Python once per slice)", color="#4a7bb7")
    ax.bar(names, sysc, bottom=user, label=f"system calls × {d['syscall_ns']:.0f} ns (measured)", color="#e67e22")
    ax.bar(names, kern, bottom=[a + b for a, b in zip(user, sysc)], label="kernel: the rest of the system time",
           color="#95a5a6")
    ax.axhline(d["budget_ns"], color="#c0392b", ls="--", label=f"10G/64 budget {d['budget_ns']:.1f} ns")
    ax.set_ylabel("CPU ns per packet (batch 64)")
    ax.legend(fontsize=8)
    table = _table(["backend", "CPU ns/pkt", "user ns/pkt", "syscalls/pkt", "syscall ns/pkt", "kernel ns/pkt",
                    "data path ns/pkt (TSC)"],
                   [[r["backend"], _f(r["cpu_ns"], 1), _f(r["user_ns"], 1), _f(r["syscalls_per_pkt"], 4),
                     _f(r["syscall_ns"], 1), _f(r["kernel_ns"], 1), _f(r["data_path_ns"], 1)] for r in rows])
    return _png(fig), table


def _where_by_stage(d: dict):
    """Stacked bars: each backend's CPU ns/packet by stage (gen --profile), the budget line."""
    plt = _plt()
    rows = [r for r in d["rows"] if r.get("stages")]
    stages = list(dict.fromkeys(s for r in rows for s in r["stages"]))
    fig, ax = plt.subplots(figsize=(9, 4.8))
    colors = plt.get_cmap("tab20").colors
    bottom = [0.0] * len(rows)
    for i, stage in enumerate(stages):
        ys = [r["stages"].get(stage) or 0.0 for r in rows]
        ax.bar([r["backend"] for r in rows], ys, bottom=bottom, label=stage, color=colors[i % len(colors)])
        bottom = [b + y for b, y in zip(bottom, ys)]
    ax.axhline(d["budget_ns"], color="#c0392b", ls="--", label=f"10G/64 budget {d['budget_ns']:.1f} ns")
    ax.set_ylabel("CPU ns per packet (batch 64), by stage")
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    table = _table(["backend", "CPU ns/pkt (run)", "sum of stages", "top stage", "top functions"],
                   [[r["backend"], _f(r.get("profile_cpu_ns"), 1), _f(r.get("profile_sum_ns"), 1),
                     max(r["stages"].items(), key=lambda kv: kv[1] or 0)[0],
                     ", ".join(f"{n} {_f(v, 1)}" for n, v in r.get("top_functions", []))] for r in rows])
    return _png(fig), table


RENDER = {"budget": budget_section, "amortisation": amortisation_section, "transmit": transmit_section,
          "receive": receive_section, "queueing": queueing_section, "memory": memory_section,
          "forwarding": forwarding_section, "latency": latency_section, "where": where_section}


# -- comparing with an earlier run ------------------------------------------------------------------

def headlines(results: dict) -> dict[str, dict]:
    """The numbers a before/after comparison looks at, each {median, min, max}."""
    out = {}
    s = results.get("sections", {})

    def d(name):
        sec = s.get(name, {})
        return sec.get("data") if sec.get("status") == "done" else None

    if (t := d("transmit")):
        for be, per in t["backends"].items():
            for b, v in per.items():
                out[f"transmit {be} b{b} pps"] = v["pps"]
    if (r := d("receive")):
        for be, v in r["backends"].items():
            out[f"receive {be} pps"] = v["received_pps"]
    if (f := d("forwarding")):
        for k, v in f["pps"].items():
            out[f"forwarding {k} pps"] = v
    if (q := d("queueing")):
        for row in q["rows"]:
            if row["batch"] == 64:
                for k in ("no_bulk", "bulk", "bulk_bypass"):
                    out[f"queueing {k} b64 ns/pkt"] = {"median": row[k]["ns_per_pkt"], "runs": [row[k]["ns_per_pkt"]]}
    if (lat := d("latency")):
        for row in lat["rows"]:
            out[f"latency p99 {int(100 * row['fraction'])}% b{row['batch']} ns"] = row["p99_ns"]
    return out


def compare(new: dict, old: dict) -> list[dict]:
    """Changes against an earlier run; beyond the spread when the new median lies outside the old
    run's min-max and the old median outside the new one's."""
    a, b = headlines(old), headlines(new)
    rows = []
    for k in b:
        if k not in a or not a[k] or not b[k] or a[k].get("median") in (None, 0) or b[k].get("median") is None:
            continue
        o, n = a[k], b[k]
        change = n["median"] / o["median"] - 1
        lo_o, hi_o = min(o.get("runs") or [o["median"]]), max(o.get("runs") or [o["median"]])
        lo_n, hi_n = min(n.get("runs") or [n["median"]]), max(n.get("runs") or [n["median"]])
        beyond = not (lo_o <= n["median"] <= hi_o) and not (lo_n <= o["median"] <= hi_n)
        rows.append({"metric": k, "before": o["median"], "after": n["median"], "change": change,
                     "beyond_spread": beyond})
    return rows


# -- the page ---------------------------------------------------------------------------------------

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:1em 0;
font-size:.85em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}.caption{color:#444}.skipped{color:#a04000}img{max-width:100%}
.beyond{font-weight:bold;color:#a00}nav a{margin-right:1em}"""

CHECK_JS = """window.__errors=[];window.addEventListener('error',function(e){window.__errors.push(String(e.message))});
window.addEventListener('load',function(){var imgs=document.images,bad=0;for(var i=0;i<imgs.length;i++){
if(!imgs[i].complete||imgs[i].naturalWidth===0)bad++}var secs=document.querySelectorAll('section.result'),empty=0;
for(var j=0;j<secs.length;j++){var s=secs[j];if(!s.querySelector('img,table,.skipped'))empty++}
document.body.setAttribute('data-check',JSON.stringify({images:imgs.length,broken_images:bad,sections:secs.length,
empty_sections:empty,errors:window.__errors}))});"""


def render(results: dict, out_dir: str, old: dict | None = None) -> str:
    """report.html and the plot images in out_dir; returns the report's path."""
    os.makedirs(out_dir, exist_ok=True)
    rec = results["record"]
    parts = [f"<h1>wirespeed bench — {html.escape(rec['cpu_model'])}</h1>"]
    ifs = ", ".join(f"{i['interface']}" for i in rec.get("interfaces", []))
    meta = [["wirespeed", rec["wirespeed"]], ["kernel", rec["kernel"]], ["CPU", f"{rec['cpu_model']}, {rec['cpus']} CPUs"],
            ["TSC", f"{rec['tsc_hz'] / 1e9:.3f} GHz"], ["mode", results.get("mode", "")],
            ["started / finished", f"{rec['started']} / {results.get('finished', '')}"],
            ["peers", ", ".join(f"{k}: {v or 'not installed'}" for k, v in results.get("peers", {}).items()) or "–"],
            ["measured in", f"{results.get('seconds', 0):.0f} s"]]
    if ifs:
        meta.append(["interfaces", ifs])
    parts.append(_table(["run record", ""], meta))
    if results.get("interrupted"):
        parts.append('<p class="skipped">Interrupted (Ctrl-C): the sections below are what finished.</p>')
    parts.append("<nav>" + "".join(f'<a href="#{k}">{html.escape(v.split(". ", 1)[1])}</a>'
                                   for k, v in SECTION_TITLES.items()) + "</nav>")
    if old is not None:
        rows = compare(results, old)
        parts.append('<section id="compare"><h2>Changes against the earlier run</h2>')
        parts.append(f"<p class='caption'>against {html.escape(str(old.get('finished')))} ({old.get('mode')}); "
                     "marked: beyond the run-to-run spread of both runs</p>")
        parts.append("<table><thead><tr><th>metric</th><th>before</th><th>after</th><th>change</th></tr></thead><tbody>" +
                     "".join(f"<tr{' class=beyond' if r['beyond_spread'] else ''}><td>{html.escape(r['metric'])}</td>"
                             f"<td>{r['before']:,.1f}</td><td>{r['after']:,.1f}</td><td>{100 * r['change']:+.1f} %"
                             f"{' *' if r['beyond_spread'] else ''}</td></tr>" for r in rows) + "</tbody></table></section>")
        results["comparison"] = rows
    for name, title in SECTION_TITLES.items():
        sec = results["sections"].get(name, {"status": "skipped", "why": "not in this run"})
        parts.append(f'<section class="result" id="{name}"><h2>{html.escape(title)}</h2>')
        if sec["status"] != "done":
            parts.append(f'<p class="skipped">Skipped: {html.escape(sec["why"])}</p></section>')
            continue
        d = sec["data"]
        parts.append(f'<p class="caption">{html.escape(d.get("caption", ""))}</p>')
        try:
            png, table = RENDER[name](d)
        except (KeyError, TypeError, ValueError, StopIteration) as e:
            parts.append(f'<p class="skipped">Skipped: its figures could not be drawn ({html.escape(repr(e))})</p>'
                         "</section>")
            continue
        with open(os.path.join(out_dir, f"{name}.png"), "wb") as f:
            f.write(png)
        parts.append(f'<img alt="{html.escape(title)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
        parts.append(table + "</section>")
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>wirespeed bench</title><style>{CSS}</style>"
            f"<script>{CHECK_JS}</script></head><body>" + "\n".join(parts) +
            "<p class=caption>Published figures (Brouer, LCA 2015; pktgen, XDP) are labelled as such: they come from "
            "other machines. Every other number was measured in this run.</p></body></html>")
    path = os.path.join(out_dir, "report.html")
    with open(path, "w") as f:
        f.write(page)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({k: v for k, v in results.items() if not k.startswith("_")}, f, indent=1, default=str)
    return path
