"""One self-contained HTML report: inline CSS, inline SVG charts, a small inline sorting script.

Nothing is fetched from the network, so the file opens the same from a CI artifact, an
e-mail or a laptop without a connection.
"""

from __future__ import annotations

from html import escape

from pytest_carbon.report.comparison import describe_change, format_percent, format_value
from pytest_carbon.report.hosted import MODELS_HEADER, counts, hosted_line, mass_range, model_rows
from pytest_carbon.report.terminal import how_measured
from pytest_carbon.report.wording import plus_minus, verdict_comparison, verdict_pair
from pytest_carbon.schema import BudgetRecord, Report, ShardRecord, judged_tests, over_budget
from pytest_carbon.values.quantities import format_energy, format_mass

PHASES = ("setup", "call", "teardown")
PHASE_COLOURS = {"setup": "#7570b3", "call": "#1b9e77", "teardown": "#d95f02"}
MEASURED_COLOUR = "#1b9e77"
ESTIMATED_COLOUR = "#a6761d"
CHART_TESTS = 15
CHART_WIDTH = 960
LABEL_WIDTH = 380
ROW_HEIGHT = 22
# Rows per table: a browser lays out a table of this size in about a second; 100,000 rows
# took minutes. The tables list the costliest first, so the cut keeps what matters.
MAX_ROWS = 5000

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#fff}
main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.headline{font-size:18px;margin:4px 0 12px}.muted{color:#59636e}
.banner{padding:8px 12px;border-radius:6px;margin:8px 0}.bad{background:#ffebe9;border:1px solid #ff8182}
.warn{background:#fff8c5;border:1px solid #d4a72c}.good{background:#dafbe1;border:1px solid #4ac26b}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:4px 8px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th{background:#f6f8fa;position:sticky;top:0}table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
.exceeded{color:#cf222e;font-weight:600}.ok{color:#1a7f37}.near{color:#9a6700}.failed,.error{color:#cf222e}.skipped,.xfailed{color:#59636e}
figure{margin:0 0 20px}figcaption{font-weight:600;margin-bottom:4px}figure svg{max-width:960px;display:block}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}svg .v{fill:#59636e}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}dt{color:#59636e}dd{margin:0}
"""

# Sorting reads each row's key once, sorts the keys, and moves the rows with the table body
# detached: one layout for the whole table, however many rows. The page arrives sorted by
# energy, so nothing runs before it is usable.
SCRIPT = """
(function(){
  function key(c){var v=c.getAttribute('data-v');
    if(v!==null){var n=parseFloat(v);if(!isNaN(n)){return {n:n};}}
    return {s:(v!==null?v:c.textContent).trim().toLowerCase()};}
  function sort(table,col,dir){
    var body=table.tBodies[0],rows=body.rows,keyed=new Array(rows.length);
    for(var i=0;i<rows.length;i++){keyed[i]={k:key(rows[i].cells[col]),r:rows[i],i:i};}
    keyed.sort(function(a,b){var x=a.k,y=b.k,c;
      if(x.n!==undefined&&y.n!==undefined){c=x.n-y.n;}
      else{var p=x.s!==undefined?x.s:String(x.n),q=y.s!==undefined?y.s:String(y.n);c=p<q?-1:p>q?1:0;}
      return dir*c||a.i-b.i;});
    var next=table.removeChild(body).cloneNode(false);
    for(var j=0;j<keyed.length;j++){next.appendChild(keyed[j].r);}
    table.appendChild(next);
    var ths=table.tHead.rows[0].cells;
    for(var h=0;h<ths.length;h++){ths[h].removeAttribute('aria-sort');}
    ths[col].setAttribute('aria-sort',dir>0?'ascending':'descending');
  }
  var tables=document.querySelectorAll('table.sortable');
  for(var t=0;t<tables.length;t++){(function(table){
    var ths=table.tHead.rows[0].cells;
    for(var i=0;i<ths.length;i++){(function(i){ths[i].addEventListener('click',function(){
      sort(table,i,ths[i].getAttribute('aria-sort')==='descending'?1:-1);});})(i);}
    table.setAttribute('data-ready','1');
  })(tables[t]);}
})();
"""


def e(value: object) -> str:
    return escape(str(value), quote=True)


def _n(value: float, text: str) -> str:
    """A numeric cell: shown as text, sorted by the raw value."""
    return f'<td class="n" data-v="{value!r}">{e(text)}</td>'


def bar_chart(rows: list[tuple[str, list[tuple[float, str, str]], str]], title: str) -> str:
    """Horizontal bars: (label, [(value, colour, tooltip) segments], value text) per row."""
    if not rows:
        return f'<p class="muted">{e(title)}: nothing to show.</p>'
    biggest = max(sum(v for v, _, _ in segments) for _, segments, _ in rows) or 1.0
    span = CHART_WIDTH - LABEL_WIDTH - 200  # room for the value text after the longest bar
    height = ROW_HEIGHT * len(rows) + 8
    parts = [
        f'<svg role="img" aria-label="{e(title)}" viewBox="0 0 {CHART_WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet">'
    ]
    for index, (label, segments, value_text) in enumerate(rows):
        y = 4 + index * ROW_HEIGHT
        shown = label if len(label) <= 58 else "\u2026" + label[-57:]
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end"><title>{e(label)}</title>{e(shown)}</text>'
        )
        x = float(LABEL_WIDTH)
        for value, colour, tooltip in segments:
            width = span * value / biggest
            if width > 0:
                parts.append(
                    f'<rect class="bar" x="{x:.1f}" y="{y + 3}" width="{width:.1f}" height="{ROW_HEIGHT - 6}" fill="{colour}"><title>{e(tooltip)}</title></rect>'
                )
            x += width
        parts.append(f'<text class="v" x="{x + 6:.1f}" y="{y + 15}">{e(value_text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def tests_chart(report: Report) -> str:
    ranked = sorted(report["tests"], key=lambda t: t["energy_j"], reverse=True)[:CHART_TESTS]
    rows = []
    for test in ranked:
        segments = [
            (test["phases"][p]["energy_j"], PHASE_COLOURS[p], f"{p}: {format_energy(test['phases'][p]['energy_j'])}")
            for p in PHASES
        ]
        rows.append((test["nodeid"], segments, f"{format_energy(test['energy_j'])}, {format_mass(test['co2e_g'])}"))
    legend = "".join(f'<span><i style="background:{c}"></i>{p}</span>' for p, c in PHASE_COLOURS.items())
    return (
        f'<figure id="chart-tests"><figcaption>Top {len(rows)} of {len(report["tests"])} tests by energy</figcaption>'
        f'{bar_chart(rows, "energy of the top tests")}<div class="legend">{legend}</div></figure>'
    )


def meters_chart(report: Report) -> str:
    rows = []
    for meter in report["session"]["meters"]:
        colour = MEASURED_COLOUR if meter["measured"] else ESTIMATED_COLOUR
        kind = "measured" if meter["measured"] else "estimated"
        for channel in meter["channels"]:
            label = f"{meter['name']}/{channel['name']} ({kind})"
            rows.append(
                (
                    label,
                    [(channel["energy_j"], colour, f"{label}: {format_energy(channel['energy_j'])}")],
                    format_energy(channel["energy_j"]),
                )
            )
    legend = (
        f'<span><i style="background:{MEASURED_COLOUR}"></i>measured</span>'
        f'<span><i style="background:{ESTIMATED_COLOUR}"></i>estimated</span>'
    )
    return (
        f'<figure id="chart-meters"><figcaption>Session energy by meter</figcaption>'
        f'{bar_chart(rows, "session energy by meter")}<div class="legend">{legend}</div></figure>'
    )


def _verdict(budget: BudgetRecord | None) -> str:
    if not budget:
        return '<td class="muted">-</td>'
    css = "exceeded" if budget["exceeded"] else ("near" if budget.get("within_uncertainty") else "ok")
    return (
        f'<td class="{css}" title="from {e(budget["source"])}" data-v="{e(css)}">{e(verdict_comparison(budget))}</td>'
    )


def tests_table(report: Report) -> str:
    """Every test, costliest first; past MAX_ROWS the costliest MAX_ROWS, with a note."""
    head = (
        "<tr><th>test</th><th>outcome</th>"
        + "".join(f'<th class="n">{p}</th>' for p in PHASES)
        + '<th class="n" aria-sort="descending">energy</th><th class="n">CO2e</th><th class="n">time</th>'
        "<th>budget</th></tr>"
    )
    tests = report["tests"]
    ranked = sorted(tests, key=lambda t: t["energy_j"], reverse=True)[:MAX_ROWS]
    rows = []
    for test in ranked:
        phases = test["phases"]
        rows.append(
            '<tr class="test">'
            f'<td><code>{e(test["nodeid"])}</code></td><td class="{e(test["outcome"])}">{e(test["outcome"])}</td>'
            + "".join(_n(phases[p]["energy_j"], format_energy(phases[p]["energy_j"])) for p in PHASES)
            + _n(
                test["energy_j"],
                " ".join(filter(None, [format_energy(test["energy_j"]), plus_minus(test.get("uncertainty"))])),
            )
            + _n(test["co2e_g"], format_mass(test["co2e_g"]))
            + _n(test["duration_s"], f"{test['duration_s']:.3f} s")
            + _verdict(test.get("budget"))
            + "</tr>"
        )
    table = f'<table id="tests" class="sortable"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
    return _left_out(len(tests) - len(ranked), len(tests), "tests", "the costliest") + table


def _left_out(left: int, total: int, what: str, kept: str = "the first") -> str:
    if left <= 0:
        return ""
    return (
        f'<p class="banner warn" id="{e(what)}-cut">{kept.capitalize()} {total - left:,} of {total:,} {e(what)} '
        f"are listed, so that the page stays quick to open; the JSON report (--carbon-json) has them all.</p>"
    )


def fixtures_table(report: Report) -> str:
    fixtures = report["fixtures"]
    if not fixtures:
        return '<p class="muted">No shared (class, module, package or session scope) fixtures.</p>'
    head = '<tr><th>fixture</th><th class="n">set up</th><th class="n">setup</th><th class="n">teardown</th><th class="n">energy</th><th class="n">CO2e</th><th class="n">time</th></tr>'
    rows = []
    for fixture in fixtures:
        parts = fixture["parts"]
        rows.append(
            f"<tr><td><code>{e(fixture['label'])}</code></td>"
            + _n(fixture["setups"], str(fixture["setups"]))
            + "".join(_n(parts[p]["energy_j"], format_energy(parts[p]["energy_j"])) for p in ("setup", "teardown"))
            + _n(fixture["energy_j"], format_energy(fixture["energy_j"]))
            + _n(fixture["co2e_g"], format_mass(fixture["co2e_g"]))
            + _n(fixture["duration_s"], f"{fixture['duration_s']:.3f} s")
            + "</tr>"
        )
    return f'<table id="fixtures" class="sortable"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def groups_table(report: Report) -> str:
    """The roll-up by file, module or directory (--carbon-group)."""
    groups = report.get("groups")
    if not groups:
        return ""
    by = groups["by"]
    head = (
        f'<tr><th>{e(by)}</th><th class="n">tests</th><th class="n">energy</th><th class="n">CO2e</th>'
        '<th class="n">time</th><th class="n">over budget</th></tr>'
    )
    rows = [
        f"<tr><td><code>{e(g['name'])}</code></td>"
        + _n(g["tests"], str(g["tests"]))
        + _n(g["energy_j"], format_energy(g["energy_j"]))
        + _n(g["co2e_g"], format_mass(g["co2e_g"]))
        + _n(g["duration_s"], f"{g['duration_s']:.3f} s")
        + _n(g["over_budget"], str(g["over_budget"]))
        + "</tr>"
        for g in groups["entries"][:MAX_ROWS]
    ]
    return (
        f'<h2 id="by-{e(by)}">By {e(by)}</h2>'
        f'<table id="groups" class="sortable"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
    )


def budgets_section(report: Report) -> str:
    session = report["session"]
    warn = session.get("action") == "warn"
    parts = []
    budget = session.get("budget")
    if budget:
        measured, limit = verdict_pair(budget)
        if budget["exceeded"]:
            parts.append(
                f'<p class="banner {"warn" if warn else "bad"}">Session over its carbon budget{" (warning only)" if warn else ""}: '
                f"{e(measured)} &gt; {e(limit)} (from {e(budget['source'])})</p>"
            )
        else:
            parts.append(
                f'<p class="banner good">Session within its carbon budget: {e(measured)} &lt;= {e(limit)} (from {e(budget["source"])})</p>'
            )
    judged = judged_tests(report["tests"])
    over = over_budget(report["tests"])
    if judged:
        css = ("warn" if warn else "bad") if over else "good"
        text = (
            f"{len(over)} of {len(judged)} tests with a budget are over it"
            if over
            else f"All {len(judged)} tests with a budget are within it"
        )
        items = "".join(
            f"<li><code>{e(t['nodeid'])}</code>: {e(verdict_comparison(budget))} (from {e(budget['source'])})</li>"
            for t, budget in over[:MAX_ROWS]
        ) + (f"<li>... and {len(over) - MAX_ROWS:,} more (see the JSON report)</li>" if len(over) > MAX_ROWS else "")
        parts.append(
            f'<div class="banner {css}">{e(text)}{" (warning only)" if warn and over else ""}{f"<ul>{items}</ul>" if items else ""}</div>'
        )
    if not parts:
        parts.append(
            '<p class="muted">No budgets were set (see --carbon-budget, --carbon-test-budget and the carbon marker).</p>'
        )
    return "".join(parts)


def comparison_section(report: Report) -> str:
    comparison = report.get("comparison")
    if not comparison:
        return ""
    unit = comparison["unit"]
    warn = report["session"].get("action") == "warn"
    parts = [
        f'<h2 id="comparison">Compared with the baseline</h2><p>Baseline <code>{e(comparison["baseline"])}</code>: session '
        f"{e(describe_change(comparison['session'], unit))}; {len(comparison['new'])} new and {len(comparison['removed'])} removed tests; "
        f"changes under {e(comparison['min_change_text'])} ignored.</p>"
    ]
    if comparison["fail_pct"] is not None:
        if comparison["failed"]:
            parts.append(
                f'<p class="banner {"warn" if warn else "bad"}">Regression beyond {comparison["fail_pct"]:g}%{" (warning only)" if warn else ""}</p>'
            )
        else:
            parts.append(f'<p class="banner good">No regression beyond {comparison["fail_pct"]:g}%</p>')
    all_changed = [t for t in comparison["tests"] if t["status"] != "same"]
    changed = all_changed[:MAX_ROWS]  # largest growth first
    if changed:
        parts.append(_left_out(len(all_changed) - len(changed), len(all_changed), "changed tests", "the most grown"))
        rows = "".join(
            f"<tr><td><code>{e(t['name'])}</code></td>"
            + _n(t["before"], format_value(t["before"], unit))
            + _n(t["after"], format_value(t["after"], unit))
            + _n(t["change_pct"] if t["change_pct"] is not None else 1e300, format_percent(t["change_pct"]))
            + f'<td class="{"exceeded" if t["status"] == "regressed" else ""}">{e(t["status"])}</td></tr>'
            for t in changed
        )
        parts.append(
            '<table id="changes" class="sortable"><thead><tr><th>test</th><th class="n">before</th><th class="n">after</th>'
            f'<th class="n">change</th><th>status</th></tr></thead><tbody>{rows}</tbody></table>'
        )
    for title, names in (("New tests", comparison["new"]), ("Removed tests", comparison["removed"])):
        if names:
            items = "".join(f"<li><code>{e(n)}</code></li>" for n in names[:MAX_ROWS])
            if len(names) > MAX_ROWS:
                items += f"<li>... and {len(names) - MAX_ROWS:,} more (see the JSON report)</li>"
            parts.append(f"<details><summary>{title} ({len(names)})</summary><ul>{items}</ul></details>")
    parts.extend(f'<p class="muted">note: {e(n)}</p>' for n in comparison["notes"])
    return "".join(parts)


def _shard_row(shard: ShardRecord) -> str:
    state = "" if shard["complete"] else ' <b class="exceeded">incomplete</b>'
    meters = ", ".join(m["name"] for m in shard["meters"]) or "none"
    intensity = shard["intensity_g_per_kwh"]
    duration = shard["duration_s"]
    return (
        f"<tr><td><code>{e(shard['name'])}</code>{state}</td><td>{e(shard['host'])}</td>"
        f"<td>{e(shard['cpu_model'])} x{e(shard['vcpus'])}</td><td>{e(meters)}</td>"
        f"<td>{e(shard['intensity_source'])}</td>{_n(intensity, f'{intensity:g} g/kWh')}"
        f"{_n(shard['duration_s'], f'{duration:.1f} s')}{_n(shard['tests'], str(shard['tests']))}"
        f"{_n(shard['energy_j'], format_energy(shard['energy_j']))}{_n(shard['co2e_g'], format_mass(shard['co2e_g']))}</tr>"
    )


def shards_section(report: Report) -> str:
    """A combined report's shards, each with its own figures and settings."""
    session = report["session"]
    shards = session.get("shards")
    if not shards:
        return ""
    rows = "".join(_shard_row(shard) for shard in shards)
    notes = "".join(
        f'<p class="muted">the shards&#x27; settings differ: {e(d)}</p>' for d in session.get("shard_differences", [])
    )
    replaced = session.get("replaced_tests", [])
    if replaced:
        items = "".join(
            f"<li><code>{e(r['nodeid'])}</code>: kept from {e(r['kept'])}, replaced in {e(', '.join(r['replaced']))}</li>"
            for r in replaced
        )
        notes += (
            f"<details><summary>{len(replaced)} test{' ran' if len(replaced) == 1 else 's ran'} in more than one shard and count once, "
            f"from the report that ended last</summary><ul>{items}</ul></details>"
        )
    return (
        f'<h2 id="shards">{len(shards)} shards</h2>'
        '<table id="shards-table" class="sortable"><thead><tr><th>shard</th><th>host</th><th>CPU</th><th>meters</th>'
        '<th>intensity source</th><th class="n">intensity</th><th class="n">time</th><th class="n">tests</th>'
        f'<th class="n">energy</th><th class="n">CO2e</th></tr></thead><tbody>{rows}</tbody></table>{notes}'
    )


def settings_section(report: Report) -> str:
    session = report["session"]
    settings = session.get("settings") or {}
    rows = "".join(
        f'<tr><td><code>{e(k)}</code></td><td>{e(v["value"])}</td><td class="muted">{e(v["origin"])}</td></tr>'
        for k, v in settings.items()
    )
    table = (
        f'<table id="settings"><thead><tr><th>setting</th><th>value</th><th>from</th></tr></thead><tbody>{rows}</tbody></table>'
        if rows
        else ""
    )
    platform = session.get("platform", {})
    facts = [
        ("how measured", how_measured(session)),
        ("meters", "; ".join(m["description"] for m in session["meters"]) or "none"),
        (
            "grid intensity",
            f"{session['intensity_g_per_kwh']:g} gCO2e/kWh: {session['intensity_source']} (from {session['intensity_origin']})",
        ),
        ("PUE", f"{session['pue']} (from {session['pue_source']})"),
        ("embodied", session["embodied_label"]),
        ("CPU", f"{session.get('cpu_model')}, {session.get('vcpus')} vCPUs"),
        (
            "platform",
            f"{platform.get('system')} {platform.get('release')} {platform.get('machine')} on {platform.get('hostname')}",
        ),
        (
            "versions",
            f"Python {platform.get('python')}, pytest {platform.get('pytest')}, pytest-carbon {platform.get('pytest_carbon')}",
        ),
        ("run", f"{session['start']} to {session['end']} ({session['duration_s']:.1f} s)"),
    ]
    items = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts)
    notes = "".join(f'<p class="muted">note: {e(n)}</p>' for n in session.get("notes", []))
    return (
        f'<h2 id="provenance">Settings and provenance</h2><div id="settings-block">{table}<dl>{items}</dl>{notes}</div>'
    )


def hosted_section(report: Report) -> str:
    """Hosted models, when the run made calls: the line, every model, and the tests that called them."""
    llm = report["session"].get("llm")
    if llm is None or not (llm["calls"] or llm["replayed"]):
        return ""
    head = "".join(f"<th>{e(h)}</th>" for h in MODELS_HEADER)
    rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in model_rows(llm))
    callers = sorted((t for t in report["tests"] if t.get("llm")), key=lambda t: t["llm"]["co2e_g"], reverse=True)
    test_rows = "".join(
        f"<tr><td>{e(t['nodeid'])}</td><td>{e(counts(t['llm']))}</td>"
        f"{_n(t['llm']['co2e_g'], format_mass(t['llm']['co2e_g']))}<td>{e(mass_range(t['llm']))}</td></tr>"
        for t in callers
    )
    return (
        f'<h2 id="hosted-models">Hosted models</h2><p>{e(hosted_line(llm))}</p>'
        f'<table id="hosted" class="sortable"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        f'<table id="hosted-tests" class="sortable"><thead><tr><th>test</th><th>calls</th><th>gCO2e</th>'
        f"<th>range</th></tr></thead><tbody>{test_rows}</tbody></table>"
    )


def render_html(report: Report) -> str:
    session = report["session"]
    kind = "measured" if session["measured"] else "estimated"
    breakdown = session["breakdown"]
    overhead = sum(breakdown.get(k, 0.0) for k in ("startup_j", "collection_j", "between_j", "finish_j", "gc_j"))
    incomplete = (
        ""
        if report["complete"]
        else f'<p class="banner warn">Incomplete run: {e(report["interrupted"] or "interrupted")}</p>'
    )
    warnings = "".join(f'<p class="banner warn">warning: {e(w)}</p>' for w in session.get("warnings", []))
    where = (
        f"tests {format_energy(breakdown['tests_j'])}, shared fixtures {format_energy(breakdown['fixtures_j'])}, "
        f"pytest start-up, collection and between tests {format_energy(overhead)}"
    )
    body = (
        f"<h1>Carbon footprint of the tests</h1>{incomplete}"
        f'<p class="headline"><b>{e(format_energy(session["energy_j"]))} {e(plus_minus(session.get("uncertainty")))}, '
        f"{e(format_mass(session['co2e_g']))}</b> "
        f"for {len(report['tests'])} tests in {session['duration_s']:.1f} s ({kind})</p>"
        f'<p class="muted">{e(where)}</p>{warnings}{shards_section(report)}'
        f'<h2 id="budgets">Budgets</h2>{budgets_section(report)}'
        f"{comparison_section(report)}"
        f'<h2 id="charts">Where the energy went</h2><div class="charts">{tests_chart(report)}{meters_chart(report)}</div>'
        f'<h2 id="all-tests">All {len(report["tests"])} tests</h2><p class="muted">Costliest first; click a heading to sort.</p>{tests_table(report)}'
        f"{groups_table(report)}"
        f'<h2 id="shared-fixtures">Shared fixtures</h2>{fixtures_table(report)}'
        f"{hosted_section(report)}"
        f"{settings_section(report)}"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>pytest-carbon: {e(format_mass(session['co2e_g']))}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
