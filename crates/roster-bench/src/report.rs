//! The markdown report and its plot.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::scenarios::{
    BackendRun, Measured, BY_EMAIL, BY_QUERY, GET_USER, HEALTHZ, PATCH_METADATA, PUT_METADATA,
    TOKEN,
};

pub struct Inputs<'a> {
    pub quick: bool,
    pub users: u64,
    pub seconds: f64,
    pub connections: usize,
    pub runs: &'a [BackendRun],
    pub skipped: &'a [String],
    pub plot_file: String,
}

/// The plot's file name, next to the report: `benchmarks.md` → `benchmarks-latency.svg`.
pub fn plot_name(report: &Path) -> String {
    let stem = report
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("benchmarks");
    format!("{stem}-latency.svg")
}

/// The changes made to meet the targets and what each bought; written by hand, kept with the
/// generator so the report always carries it.
const CHANGES: &str = include_str!("../CHANGES.md");

fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {mem_gib:.0} GiB RAM, Linux {kernel}; Roster at commit `{commit}`"
    )
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn rate(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// What each endpoint is measured against, and the ratio.
fn ratio(run: &BackendRun, m: &Measured) -> String {
    let per_s = m.peak.per_second();
    let http = http_ratio(run, m);
    match m.name {
        HEALTHZ => "1.00 × HTTP (the ceiling)".into(),
        PATCH_METADATA | PUT_METADATA => format!(
            "{:.2} × storage, {http:.2} × HTTP",
            per_s / run.storage_ceiling.max(1e-9),
        ),
        TOKEN => format!(
            "{:.2} × sign ceiling × {:.2} cores ({:.2} against one idle core's rate)",
            per_s / (run.crypto.signs_per_core * m.cores).max(1e-9),
            m.cores,
            per_s / (run.crypto.signs_one_core * m.cores).max(1e-9),
        ),
        _ => format!(
            "{http:.2} × HTTP ({})",
            rate(m.http_ceiling.unwrap_or_else(|| healthz(run)))
        ),
    }
}

/// `GET /healthz` at the start of the backend's runs.
fn healthz(run: &BackendRun) -> f64 {
    run.endpoint(HEALTHZ).map_or(0.0, |h| h.peak.per_second())
}

/// The endpoint's peak against the HTTP ceiling measured around it.
fn http_ratio(run: &BackendRun, m: &Measured) -> f64 {
    m.peak.per_second() / m.http_ceiling.unwrap_or_else(|| healthz(run)).max(1e-9)
}

struct Target {
    what: String,
    measured: String,
    pass: bool,
}

fn targets(run: &BackendRun) -> Vec<Target> {
    let mut out = Vec::new();
    if let Some(m) = run.endpoint(GET_USER) {
        let r = http_ratio(run, m);
        out.push(Target {
            what: "`GET /v1/users/{id}` ≥ 0.5 × HTTP ceiling".into(),
            measured: format!("{r:.2}"),
            pass: r >= 0.5,
        });
        if let Some(h) = &m.half {
            out.push(Target {
                what: "`GET /v1/users/{id}` p99 < 5 ms at half the peak load".into(),
                measured: format!("{} ms", ms(h.ms(0.99))),
                pass: h.ms(0.99) < 5.0,
            });
        }
    }
    if run.backend == "sqlite" {
        if let Some(m) = run.endpoint(PATCH_METADATA) {
            let r = m.peak.per_second() / run.storage_ceiling.max(1e-9);
            out.push(Target {
                what: "`PATCH …/metadata` ≥ 1.0 × storage ceiling (durable)".into(),
                measured: format!("{r:.2}"),
                pass: r >= 1.0,
            });
        }
    }
    if let Some(m) = run.endpoint(TOKEN) {
        let r = m.peak.per_second() / (run.crypto.signs_per_core * m.cores).max(1e-9);
        let idle = m.peak.per_second() / (run.crypto.signs_one_core * m.cores).max(1e-9);
        out.push(Target {
            what: "token minting ≥ 0.8 × sign ceiling × cores in use".into(),
            measured: format!("{r:.2} ({idle:.2} against one idle core's rate)"),
            pass: r >= 0.8,
        });
    }
    let r = run.sdk_verifies_per_s / run.crypto.verifies_per_core.max(1e-9);
    out.push(Target {
        what: "SDK verification ≥ 0.8 × verify ceiling".into(),
        measured: format!("{r:.2}"),
        pass: r >= 0.8,
    });
    for (name, limit) in [(GET_USER, 5.0), (BY_EMAIL, 5.0), (BY_QUERY, 50.0)] {
        if let Some(h) = run.endpoint(name).and_then(|m| m.half.as_ref()) {
            out.push(Target {
                what: format!(
                    "at {} users: `{name}` p99 < {limit} ms (half load)",
                    thousands(run.users)
                ),
                measured: format!("{} ms", ms(h.ms(0.99))),
                pass: h.ms(0.99) < limit,
            });
        }
    }
    out.push(Target {
        what: format!("at {} users: peak RSS < 256 MB", thousands(run.users)),
        measured: format!("{:.0} MiB", run.max_rss_mib),
        pass: run.max_rss_mib * 1.048_576 < 256.0,
    });
    if let Some(s) = &run.soak {
        out.push(Target {
            what: "soak: zero 5xx".into(),
            measured: format!("{} of {}", s.server_errors, thousands(s.requests)),
            pass: s.server_errors == 0,
        });
    }
    out
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn markdown(inputs: &Inputs<'_>) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Roster benchmarks\n");
    if inputs.quick {
        let _ = writeln!(
            md,
            "**Quick smoke run: tiny dataset and sub-second runs; the numbers mean little.**\n"
        );
    }
    let _ = writeln!(
        md,
        "Generated by `scripts/bench` (`roster-bench`). Machine: {}.\n",
        machine_line()
    );
    let _ = writeln!(
        md,
        "Each backend: {} seeded users (metadata of a few hundred bytes per tier), the release \
         `roster` binary on loopback, {} keep-alive connections from the built-in load generator \
         on the same machine, {:.1} s per run. *Peak* is closed loop (each connection sends as soon \
         as it has its answer); *half load* is open loop at half the peak rate, latency counted \
         from when each request was due. Ratios are to ceilings measured in the same run; an \
         endpoint's HTTP ratio is to `GET /healthz` measured just before and just after its peak \
         run (the mean of the two, in brackets), since this machine's speed drifts within minutes.\n",
        thousands(inputs.users),
        inputs.connections,
        inputs.seconds
    );
    for s in inputs.skipped {
        let _ = writeln!(md, "Skipped: {s}.\n");
    }

    let _ = writeln!(md, "## Ceilings\n");
    let _ = writeln!(md, "| ceiling | value |\n|---|---:|");
    for run in inputs.runs {
        let _ = writeln!(
            md,
            "| {}: RSA-2048 RS256 signatures per second per core, every core signing (ring, key parsed once; measured just before the token run) | {} |",
            run.backend,
            rate(run.crypto.signs_per_core)
        );
        let _ = writeln!(
            md,
            "| {}: the same on one core of an otherwise idle machine (for comparison) | {} |",
            run.backend,
            rate(run.crypto.signs_one_core)
        );
        let _ = writeln!(
            md,
            "| {}: RSA-2048 RS256 verifications per second, one core (ring; measured just before the SDK run) | {} |",
            run.backend,
            rate(run.crypto.verifies_per_core)
        );
        if let Some(h) = run.endpoint(HEALTHZ) {
            let _ = writeln!(
                md,
                "| {}: HTTP, `GET /healthz` on the same server, first run (req/s; each endpoint's own is in its row) | {} |",
                run.backend,
                rate(h.peak.per_second())
            );
        }
        let _ = writeln!(
            md,
            "| {}: storage, durable single-row read-modify-write transactions per second ({}) | {} |",
            run.backend,
            run.storage_ceiling_note,
            rate(run.storage_ceiling)
        );
    }
    md.push('\n');

    for run in inputs.runs {
        let _ = writeln!(md, "## {}\n", run.backend);
        let _ = writeln!(
            md,
            "| request | req/s | vs ceiling | p50 ms | p99 ms | p99.9 ms | half load p50 / p99 / p99.9 ms | server CPU (cores) | peak RSS MiB | failed |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for m in &run.endpoints {
            let half = m.half.as_ref().map_or("—".into(), |h| {
                format!(
                    "{} / {} / {}",
                    ms(h.ms(0.5)),
                    ms(h.ms(0.99)),
                    ms(h.ms(0.999))
                )
            });
            let failed = m.peak.failures + m.half.as_ref().map_or(0, |h| h.failures);
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} | {} | {} | {} | {:.2} | {:.0} | {} |",
                m.name,
                rate(m.peak.per_second()),
                ratio(run, m),
                ms(m.peak.ms(0.5)),
                ms(m.peak.ms(0.99)),
                ms(m.peak.ms(0.999)),
                half,
                m.cores,
                m.peak_rss_mib,
                failed
            );
        }
        let _ = writeln!(
            md,
            "| SDK `Verifier::verify`, in process, one thread | {} | {:.2} × verify ceiling | | | | | 1 | | 0 |",
            rate(run.sdk_verifies_per_s),
            run.sdk_verifies_per_s / run.crypto.verifies_per_core.max(1e-9)
        );
        md.push('\n');
        for m in &run.endpoints {
            if let Some(f) = m
                .peak
                .first_failure
                .as_ref()
                .or(m.half.as_ref().and_then(|h| h.first_failure.as_ref()))
            {
                let _ = writeln!(md, "First failure of `{}`: `{}`\n", m.name, f);
            }
        }
        let _ = writeln!(
            md,
            "Targets:\n\n| target | measured | met |\n|---|---:|---|"
        );
        for t in targets(run) {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                t.what,
                t.measured,
                if t.pass { "yes" } else { "**no**" }
            );
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Memory and start-up\n");
    let _ = writeln!(
        md,
        "| backend | users | seeding | start to first answered request | idle RSS MiB | peak RSS MiB (whole run) |\n|---|---:|---:|---:|---:|---:|"
    );
    for run in inputs.runs {
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} s | {:.0} ms | {:.1} | {:.0} |",
            run.backend,
            thousands(run.users),
            run.seeded_in.as_secs_f64(),
            run.startup.as_secs_f64() * 1000.0,
            run.idle_rss_mib,
            run.max_rss_mib
        );
    }
    md.push('\n');

    if inputs.runs.iter().any(|r| r.soak.is_some()) {
        let _ = writeln!(md, "## Soak\n");
        let _ = writeln!(
            md,
            "Mixed load, closed loop: 40% `GET /v1/users/{{id}}`, 10% by email, 5% substring query, \
             15% `PATCH …/metadata`, 5% `PUT …/metadata`, 10% template tokens, 15% `GET /fapi/v1/me`.\n"
        );
        let _ = writeln!(
            md,
            "| backend | seconds | requests | req/s | non-2xx | 5xx | p99 ms | RSS MiB: first / at ¼ / last / max |\n|---|---:|---:|---:|---:|---:|---:|---|"
        );
        for run in inputs.runs {
            if let Some(s) = &run.soak {
                let at = |f: f64| {
                    s.rss_mib
                        .get(((s.rss_mib.len() as f64 - 1.0) * f).round().max(0.0) as usize)
                        .copied()
                        .unwrap_or(0.0)
                };
                let max = s.rss_mib.iter().cloned().fold(0.0, f64::max);
                let _ = writeln!(
                    md,
                    "| {} | {:.0} | {} | {} | {} | {} | {} | {:.1} / {:.1} / {:.1} / {:.1} |",
                    run.backend,
                    s.seconds,
                    thousands(s.requests),
                    rate(s.per_second),
                    s.failures,
                    s.server_errors,
                    ms(s.p99_ms),
                    at(0.0),
                    at(0.25),
                    at(1.0),
                    max
                );
            }
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Latency against throughput\n");
    let _ = writeln!(
        md,
        "Open loop at 10, 25, 50, 75 and 90% of the peak, then the closed-loop peak; p99 solid, p50 dashed.\n"
    );
    let _ = writeln!(md, "![latency against throughput]({})\n", inputs.plot_file);
    md.push_str(CHANGES);
    md
}

/// Achieved requests/s, p50 ms, p99 ms.
type Point = (f64, f64, f64);

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// p50 and p99 against achieved throughput, one colour per backend and endpoint.
pub fn plot(runs: &[BackendRun], path: &Path) -> anyhow::Result<()> {
    let series: Vec<(String, &[Point])> = runs
        .iter()
        .flat_map(|r| {
            r.sweeps
                .iter()
                .map(move |s| (format!("{}: {}", r.backend, s.name), s.points.as_slice()))
        })
        .collect();
    let max_x = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.0))
        .fold(1.0, f64::max)
        * 1.05;
    let max_y = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.2))
        .fold(1.0, f64::max)
        * 1.3;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Roster: latency against throughput", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_x, (0.05..max_y).log_scale())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("requests per second")
        .y_desc("latency, ms (log)")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (i, (label, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.2.max(0.05))),
                colour.stroke_width(2),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(format!("{label} p99"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(DashedLineSeries::new(
                points.iter().map(|p| (p.0, p.1.max(0.05))),
                4,
                4,
                colour.stroke_width(1),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.0, p.2.max(0.05)), 3, colour.filled())),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
