#!/usr/bin/env python3
"""One Markdown table of the benchmark figures that `make bench` collected (JSON lines on
stdin or in the file named), each beside its reference from the same run, with the goal of
issue 15 (performance) or 17 (airspace) and whether it was met. For the airspace rows the
ratio is how many times faster the index is than the scan. Figures missing from the input are skipped."""
import json
import sys


def load(stream):
    figures = {}
    for line in stream:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        name = record.get("figure")
        if name == "kafka_ingest_points_per_s":
            name = f"kafka_ingest_points_per_s/{record.get('record_format', 'json')}"
        if name == "ingest_points_per_s":
            name = f"ingest_points_per_s/{record.get('ack', 'durable')}"
        if name:
            figures.setdefault(name, record)
    return figures


def fmt(value, unit=""):
    if value is None:
        return "—"
    if isinstance(value, float) and value < 100:
        return f"{value:.2f}{unit}"
    return f"{value:,.0f}{unit}"


def rows(f):
    """(figure, reference, value, ratio, goal, met) for every figure present."""
    def get(name, key="value"):
        return f.get(name, {}).get(key)

    for mode, label, goal, p99_goal in [
        ("embedded", "GET /drones/{id}, embedded (req/s)", 0.70, None),
        ("redis", "GET /drones/{id}, Redis sessions, limits and cache (req/s)", 0.50, 5.0),
        ("no-cache", "GET /drones/{id}, Redis without the cache (req/s)", None, None),
    ]:
        r = f.get(f"drone_get_{mode}")
        if not r:
            continue
        ratio = r["rps"] / r["reference_rps"]
        text = " and ".join(t for t in [f"≥ {goal:.2f}" if goal else "", f"p99 ≤ {p99_goal:g} ms" if p99_goal else ""] if t)
        met = None if not goal else ratio >= goal and (p99_goal is None or r["p99_ms"] <= p99_goal) and r["errors"] == 0
        yield (label + f", p99 {r['p99_ms']:.2f} ms", "bare actix-web " + fmt(r["reference_rps"]), fmt(r["rps"]), ratio, text or "—", met)

    durable, copy = get("ingest_points_per_s/durable"), get("raw_copy_points_per_s")
    if durable and copy:
        yield ("ingest HTTP → PostgreSQL, durable 202 (points/s)", "raw binary COPY " + fmt(copy), fmt(durable), durable / copy, "≥ 0.85", durable / copy >= 0.85)
    json_rate, compact_rate = get("kafka_ingest_points_per_s/json"), get("kafka_ingest_points_per_s/compact")
    if json_rate and compact_rate:
        yield ("ingest through Kafka, compact records (points/s)", "JSON records " + fmt(json_rate), fmt(compact_rate), compact_rate / json_rate, "≥ 4", compact_rate / json_rate >= 4)
    produce = get("tansu_produce_points_per_s")
    if compact_rate and produce:
        yield ("ingest through Kafka vs the broker's own produce rate", "tansu produce " + fmt(produce), fmt(compact_rate), compact_rate / produce, "≥ 0.8", compact_rate / produce >= 0.8)
    compact_bytes, json_bytes = get("kafka_record_bytes_per_point"), get("kafka_record_bytes_per_point", "json")
    if compact_bytes and json_bytes:
        yield ("Kafka record bytes per point", "JSON " + fmt(json_bytes), fmt(compact_bytes), compact_bytes / json_bytes, "—", None)
    live = f.get("live_latency_ms")
    if live:
        yield (f"live latency, {live.get('drones', 0):,} drones × 1 Hz, p99 (ms)", "—", f"p50 {live['p50']:.1f}, p99 {live['p99']:.1f}", None, "p99 ≤ 20 ms", live["p99"] <= 20)
    r = f.get("airspace_plan_check_ms")
    if r:
        yield (f"plan check, {r['waypoints']} waypoints vs {r['fences']:,} fences, p99 (ms)", "scan of every fence, p50 " + fmt(r["reference_p50"], " ms"), f"p50 {r['p50']:.3f}, p99 {r['p99']:.3f}", r["reference_p50"] / r["p50"] if r["p50"] else None, "p99 ≤ 5 ms", r["p99"] <= 5)
    r = f.get("airspace_deconflict_ms")
    if r:
        yield (f"deconfliction vs {r['plans']:,} plans, p99 (ms)", "scan of every plan, p50 " + fmt(r["reference_p50"], " ms"), f"p50 {r['p50']:.3f}, p99 {r['p99']:.3f}", r["reference_p50"] / r["p50"] if r["p50"] else None, "p99 ≤ 10 ms", r["p99"] <= 10)
    r = f.get("airspace_point_checks_per_s")
    if r:
        yield (f"point-in-fence vs {r['fences']:,} fences, one core (checks/s)", "scan of every fence " + fmt(r["reference_value"]), fmt(r["value"]), r["value"] / r["reference_value"], "≥ 1,000,000", r["value"] >= 1_000_000)
    r = f.get("fleet_positions_ms")
    if r:
        yield (f"fleet positions, {r['drones']:,} drones over {r['shards']} shards, p95 (ms)", "—", f"p50 {r['p50_ms']:.1f}, p95 {r['p95_ms']:.1f}", None, f"p95 ≤ {r['goal_p95_ms']} ms", r["p95_ms"] <= r["goal_p95_ms"])
    for name, label in [("fps_fleet_idle", "dashboard fleet page, idle (fps)"), ("fps_zoom_pan", "dashboard zoom and pan (fps)")]:
        r = f.get(name)
        if r:
            yield (f"{label}, {r.get('drones', 0):,} drones", "empty page " + fmt(r.get("reference_fps")), fmt(r.get("fps")), r["fps"] / r["reference_fps"] if r.get("reference_fps") else None, "—", None)


def main():
    stream = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    figures = load(stream)
    print("| figure | reference (same run) | NimbusFleet | ratio | goal | met |")
    print("|---|---|---|---|---|---|")
    for figure, reference, value, ratio, goal, met in rows(figures):
        ratio_text = "—" if ratio is None else f"{ratio:.2f}"
        met_text = "—" if met is None else ("yes" if met else "no")
        print(f"| {figure} | {reference} | {value} | {ratio_text} | {goal} | {met_text} |")


if __name__ == "__main__":
    main()
