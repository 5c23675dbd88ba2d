//! The benchmark reports' Markdown tables and SVG plots, as `fxmatch eval` writes them
//! (`TASK.md` beside `TASK.json` and the plots): one function per task's table, and per task
//! with a plot a `*_section` that adds the plot's link below the table.

use std::path::Path;

use super::param_est::{ParamEstConfig, ParamEstResult};
use super::plot::{bar_chart, line_plot, Series};
use super::retrieval::{RetrievalConfig, RetrievalResult};
use super::synthetic::ProfileResult;
use super::transfer::{SourceScore, SystemScore, TransferResult};
use super::zero_shot::{ZeroShotConfig, ZeroShotResult};

/// A plot: its file name in the results folder and its SVG text.
pub type Figure = (String, String);

/// Published average accuracies (ST-ITO Table 1) to print beside ours.
pub const PUBLISHED: &[(&str, f64)] =
    &[("AFx-Rep", 0.86), ("DeepAFx-ST+", 0.78), ("MFCC", 0.74), ("CLAP", 0.56)];

/// The zero-shot table: accuracy per metric, content type and style, beside the published
/// averages.
pub fn zero_shot_table(results: &[ZeroShotResult], config: &ZeroShotConfig) -> String {
    let mut s = format!(
        "## Zero-shot style classification ({} trials per content type, seed {})\n\n| metric | content | NT | BC | TL | BR | WM | average |\n|---|---|---|---|---|---|---|---|\n",
        config.trials, config.seed
    );
    for r in results {
        let a = |k: &str| r.per_style.get(k).copied().unwrap_or(0.0);
        s += &format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | **{:.2}** |\n",
            r.metric,
            r.content,
            a("NT"),
            a("BC"),
            a("TL"),
            a("BR"),
            a("WM"),
            r.average
        );
    }
    s += "\nPublished averages (ST-ITO Table 1): ";
    s += &PUBLISHED.iter().map(|(n, v)| format!("{n} {v:.2}")).collect::<Vec<_>>().join(", ");
    s += "; AFx-Rep per style: TL 1.00, BR 1.00, WM 0.88, BC 0.85, NT 0.59.\n";
    s
}

/// One bar chart per metric (accuracy per style and content type), and the links to them.
pub fn zero_shot_charts(results: &[ZeroShotResult], metrics: &[String]) -> (String, Vec<Figure>) {
    let mut md = String::new();
    let mut svgs = Vec::new();
    for metric in metrics {
        let mut bars = Vec::new();
        for r in results.iter().filter(|r| &r.metric == metric) {
            bars.extend(r.per_style.iter().map(|(style, acc)| (format!("{} {style}", r.content), *acc)));
            bars.push((format!("{} average", r.content), r.average));
        }
        let name = format!("zero-shot-{metric}.svg");
        md += &format!("\n![zero-shot accuracy per style ({metric})]({name})\n");
        svgs.push((
            name,
            bar_chart(&format!("Zero-shot style classification ({metric})"), "accuracy", &bars, (0.0, 1.0)),
        ));
    }
    (md, svgs)
}

/// The retrieval table of one metric (accuracy per number of effects N and of distractors
/// M) with a link to its plot, and the plot.
pub fn retrieval_section(result: &RetrievalResult, config: &RetrievalConfig) -> (String, Figure) {
    let mut md = format!(
    "## Style retrieval ({} trials per N, seed {}, metric {})\n\nAccuracy that the true match ranks first; columns: number of distractors M.\n\n| N |",
    config.trials, config.seed, result.metric
);
    let shown: Vec<usize> =
        [1, 2, 5, 10, 15, 20, 25].into_iter().filter(|&m| m <= config.max_distractors).collect();
    for m in &shown {
        md += &format!(" M={m} |");
    }
    md += &format!("\n|---|{}\n", "---|".repeat(shown.len()));
    for (n, row) in result.accuracy.iter().enumerate() {
        md += &format!("| {} |", n + 1);
        for m in &shown {
            md += &format!(" {:.2} |", row[m - 1]);
        }
        md += "\n";
    }
    let series: Vec<Series> = result
        .accuracy
        .iter()
        .enumerate()
        .map(|(n, row)| Series {
            label: format!("N = {}", n + 1),
            points: row.iter().enumerate().map(|(m, &a)| ((m + 1) as f64, a)).collect(),
        })
        .collect();
    let svg = line_plot(
        &format!("Style retrieval ({})", result.metric),
        "distractors M",
        "accuracy",
        &series,
        (0.0, 1.0),
    );
    let svg_name = format!("retrieval-{}.svg", result.metric);
    md += &format!("\n![retrieval accuracy vs distractors ({})]({svg_name})\n\n", result.metric);
    (md, (svg_name, svg))
}

/// The parameter estimation table of one metric: per effect, then the means.
pub fn param_est_table(result: &ParamEstResult, config: &ParamEstConfig, profile: &str) -> String {
    let mut md = format!(
        "## Parameter estimation ({} targets × {} trials, profile {profile}, metric {})\n\n| effect | parameter | range | MSE | Pearson ρ |\n|---|---|---|---|---|\n",
        config.targets.len(),
        config.trials,
        result.metric
    );
    for e in &result.effects {
        let unseen = if e.uri.is_some() { " (LV2, unseen)" } else { "" };
        let held: Vec<String> = e.fixed.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        let held = if held.is_empty() { String::new() } else { format!(" ({})", held.join(", ")) };
        md += &format!(
            "| {}{unseen} | {}{held} | {}…{} | {:.3} | {:.2} |\n",
            e.effect, e.param, e.range.0, e.range.1, e.mse, e.pearson
        );
    }
    for (label, m) in [("built-in effects", result.builtin), ("unseen LV2 plugins", result.unseen_lv2)] {
        if let Some(m) = m {
            md += &format!("| *mean, {label}* | | | {:.3} | {:.2} |\n", m.mse, m.pearson);
        }
    }
    md += &format!(
        "| **mean** | | | **{:.3}** | **{:.2}** |\n\nPublished (ST-ITO Table 2, mean over 12 effects): AFx-Rep MSE 0.048, ρ 0.86; CLAP MSE 0.10, ρ 0.64.\n",
        result.mean_mse, result.mean_pearson
    );
    md
}

/// Mean estimate per target for every effect, against the ideal line.
pub fn param_est_plot(result: &ParamEstResult) -> String {
    let mut series = vec![Series { label: "ideal".into(), points: vec![(0.0, 0.0), (1.0, 1.0)] }];
    for e in &result.effects {
        let mut targets: Vec<f64> = e.estimates.iter().map(|p| p.0).collect();
        targets.dedup();
        let points = targets
            .iter()
            .map(|&t| {
                let hits: Vec<f64> = e.estimates.iter().filter(|p| p.0 == t).map(|p| p.1).collect();
                (t, hits.iter().sum::<f64>() / hits.len() as f64)
            })
            .collect();
        series.push(Series { label: e.effect.clone(), points });
    }
    line_plot(
        &format!("Parameter estimation ({})", result.metric),
        "target (normalised)",
        "mean estimate",
        &series,
        (0.0, 1.0),
    )
}

/// [`param_est_table`] with a link to [`param_est_plot`], and the plot.
pub fn param_est_section(
    result: &ParamEstResult,
    config: &ParamEstConfig,
    profile: &str,
) -> (String, Figure) {
    let mut md = param_est_table(result, config, profile);
    let svg_name = format!("param-est-{}.svg", result.metric);
    md += &format!("\n![estimate vs target per effect ({})]({svg_name})\n\n", result.metric);
    (md, (svg_name, param_est_plot(result)))
}

/// The transfer tables: per system overall, per system and source, then per case.
pub fn transfer_table(r: &TransferResult, chain: &Path, styles: usize, pairs: usize, seconds: f64) -> String {
    let opt = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
    let mut md = format!(
        "## Style transfer ({styles} reference styles × {pairs} pairs = {} cases, chain {}, metric {}, {seconds:.0} s)\n\n\
         Fidelity: transfer gain 1 − d(output, oracle) / d(input, oracle), d the audio distance of \
         `fxmatch::eval::fidelity` (spectral + dynamics + width, dB; not the metric); 1 = the oracle, \
         0 = the untouched input, < 0 = worse than doing nothing. Closer: share of cases where the \
         output is nearer the oracle than the input is.\n\n\
         | system | similarity to the reference | median gain | 90 % interval | closer | parameter error | seconds per match |\n\
         |---|---|---|---|---|---|---|\n",
        r.pairs.len(),
        chain.display(),
        r.metric
    );
    for sys in &r.systems {
        md += &format!(
            "| {} | {:.3} | {:.3} | {} | {:.0} % | {} | {} |\n",
            sys.system,
            sys.mean_similarity,
            sys.median_gain,
            interval(sys.median_gain_interval),
            100.0 * sys.share_closer,
            opt(sys.mean_param_error, 3),
            opt(sys.mean_seconds, 2)
        );
    }
    md += "\n90 % interval: of the median gain, by a bootstrap that resamples the reference styles (the \
           cases of one style are not independent); two runs whose intervals overlap widely are not \
           told apart by these cases. Parameter error: mean |found − true| over the free parameters, \
           normalised (random guess: 1/3), on fxmatch-chain cases.\n\n";
    if !r.systems.is_empty() {
        md += &group_table(
            &r.systems,
            "Per source: median gain [90 % interval] / closer (cases).",
            |s| &s.by_source,
            true,
        );
    }
    if r.systems.first().is_some_and(|s| !s.by_class.is_empty()) {
        md += "\n";
        md += &group_table(
            &r.systems,
            "Per effect class: external cases whose chain contains one (a case counts in each of its classes): median gain / closer (cases).",
            |s| &s.by_class,
            false,
        );
    }
    md += "\nPer case: d(input, oracle) in dB (spectral + dynamics + width), then each system's gain.\n\n| # | source | style | input | reference | d(input, oracle) |";
    for sys in &r.systems {
        md += &format!(" {} |", sys.system);
    }
    md += &format!("\n|---|---|---|---|---|---|{}\n", "---|".repeat(r.systems.len()));
    for (i, p) in r.pairs.iter().enumerate() {
        let d = &p.input_distance;
        md += &format!(
            "| {} | {} | {} | {} | {} | {:.2} ({:.2} + {:.2} + {:.2}) |",
            i + 1,
            p.source,
            p.preset,
            p.input,
            p.reference,
            d.total,
            d.spectral,
            d.dynamics,
            d.width
        );
        for sys in &r.systems {
            md += &format!(" {:.2} |", sys.gains[i]);
        }
        md += "\n";
    }
    md
}

/// `[lo, hi]` of a median's interval, two decimals.
fn interval([lo, hi]: [f64; 2]) -> String {
    format!("[{lo:.2}, {hi:.2}]")
}

/// One row per system of median gain (with its interval where `with_interval`) / share closer
/// per group (the groups of the first system head the columns): `groups` picks the sources or
/// the effect classes.
fn group_table(
    systems: &[SystemScore],
    heading: &str,
    groups: fn(&SystemScore) -> &[SourceScore],
    with_interval: bool,
) -> String {
    let mut md = format!("{heading}\n\n| system |");
    for g in groups(&systems[0]) {
        md += &format!(" {} ({}) |", g.source, g.cases);
    }
    md += &format!("\n|---|{}\n", "---|".repeat(groups(&systems[0]).len()));
    for sys in systems {
        md += &format!("| {} |", sys.system);
        for g in groups(sys) {
            let spread =
                if with_interval { format!(" {}", interval(g.median_gain_interval)) } else { String::new() };
            md += &format!(" {:.3}{spread} / {:.0} % |", g.median_gain, 100.0 * g.share_closer);
        }
        md += "\n";
    }
    md
}

/// [`transfer_table`] with a link to its bar chart (similarity per system), and the chart.
pub fn transfer_section(
    result: &TransferResult,
    chain: &Path,
    styles: usize,
    pairs: usize,
    seconds: f64,
) -> (String, Figure) {
    let mut md = transfer_table(result, chain, styles, pairs, seconds);
    let svg_name = format!("transfer-{}.svg", result.metric);
    md += &format!("\n![similarity per system ({})]({svg_name})\n\n", result.metric);
    let bars: Vec<(String, f64)> =
        result.systems.iter().map(|s| (s.system.clone(), s.mean_similarity)).collect();
    let svg = bar_chart(
        &format!("Style transfer ({})", result.metric),
        "similarity to the reference",
        &bars,
        (0.0, 1.0),
    );
    (md, (svg_name, svg))
}

/// The synthetic match table: per profile, then the parameter error per parameter.
pub fn match_table(results: &[ProfileResult], chain: &Path, cases: usize, metric: &str) -> String {
    let mut s = format!(
        "## Synthetic match cases ({cases} cases, chain {}, metric {metric})\n\n\
         | profile | population × generations | evaluations | oracle − output (mean / median) | within 0.02 | similarity input → output (oracle) | parameter error | seconds (mean / max) | evaluations/s | render share |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        chain.display()
    );
    for r in results {
        s += &format!(
            "| {} | {} × {} | {:.0} | {:.4} / {:.4} | {:.0} % | {:.3} → {:.3} ({:.3}) | {:.3} | {:.2} / {:.2} | {:.0} | {:.0} % |\n",
            r.profile,
            r.config.population,
            r.config.max_generations,
            r.mean_evaluations,
            r.mean_gap,
            r.median_gap,
            100.0 * r.within_002,
            r.mean_similarity[0],
            r.mean_similarity[1],
            r.mean_similarity[2],
            r.mean_param_error,
            r.mean_seconds,
            r.max_seconds,
            r.evaluations_per_second,
            100.0 * r.render_share
        );
    }
    s += "\nParameter error: mean |found − true| in normalised units (a uniform random guess scores 1/3).\n\n| parameter |";
    for r in results {
        s += &format!(" {} |", r.profile);
    }
    s += "\n|---|";
    s += &"---|".repeat(results.len());
    s += "\n";
    if let Some(first) = results.first() {
        for name in first.param_error.keys() {
            s += &format!("| {name} |");
            for r in results {
                s += &format!(" {:.3} |", r.param_error[name]);
            }
            s += "\n";
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::eval::fidelity::Distance;
    use crate::eval::param_est::{EffectEstimate, GroupMeans};
    use crate::eval::transfer::{SourceScore, SystemScore, TransferPair};
    use crate::optimize::MatchConfig;

    fn zero_shot_result(metric: &str, content: &str) -> ZeroShotResult {
        let per_style: BTreeMap<String, f64> =
            [("NT", 0.5), ("BC", 1.0), ("TL", 0.25), ("BR", 0.75)].map(|(k, v)| (k.to_string(), v)).into();
        ZeroShotResult {
            metric: metric.into(),
            content: content.into(),
            trials: 4,
            per_style,
            average: 0.5,
            confusion: [[0; 5]; 5],
        }
    }

    #[test]
    fn zero_shot_table_has_a_row_per_result_and_the_published_figures() {
        let config = ZeroShotConfig { trials: 4, seed: 7, ..Default::default() };
        let md = zero_shot_table(&[zero_shot_result("mfcc", "speech")], &config);
        assert!(
            md.starts_with("## Zero-shot style classification (4 trials per content type, seed 7)\n"),
            "{md}"
        );
        // A style without a figure (WM) shows 0.
        assert!(md.contains("| mfcc | speech | 0.50 | 1.00 | 0.25 | 0.75 | 0.00 | **0.50** |\n"), "{md}");
        assert!(md.contains("AFx-Rep 0.86, DeepAFx-ST+ 0.78, MFCC 0.74, CLAP 0.56;"), "{md}");
    }

    #[test]
    fn zero_shot_charts_one_per_metric_with_its_link() {
        let results = [zero_shot_result("mfcc", "speech"), zero_shot_result("mfcc", "music")];
        let (md, figures) = zero_shot_charts(&results, &["mfcc".into(), "encoder".into()]);
        let names: Vec<&str> = figures.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zero-shot-mfcc.svg", "zero-shot-encoder.svg"]);
        assert!(md.contains("![zero-shot accuracy per style (mfcc)](zero-shot-mfcc.svg)"), "{md}");
        assert!(figures[0].1.contains("<svg") && figures[0].1.contains("speech average"));
        assert!(!figures[1].1.contains("speech average"), "the encoder had no results");
    }

    #[test]
    fn retrieval_columns_stop_at_the_largest_distractor_count() {
        let config = RetrievalConfig { trials: 3, max_distractors: 5, seed: 2, ..Default::default() };
        let result = RetrievalResult {
            metric: "mfcc".into(),
            trials: 3,
            accuracy: vec![vec![1.0, 0.9, 0.8, 0.7, 0.6], vec![0.1, 0.2, 0.3, 0.4, 0.5]],
        };
        let (md, (name, svg)) = retrieval_section(&result, &config);
        assert!(md.contains("| N | M=1 | M=2 | M=5 |\n|---|---|---|---|\n"), "{md}");
        assert!(md.contains("| 1 | 1.00 | 0.90 | 0.60 |\n| 2 | 0.10 | 0.20 | 0.50 |\n"), "{md}");
        assert_eq!(name, "retrieval-mfcc.svg");
        assert!(md.contains("](retrieval-mfcc.svg)") && svg.contains("N = 2"), "{md}");
    }

    fn estimate(effect: &str, uri: Option<&str>, fixed: Vec<(String, f32)>, mse: f64) -> EffectEstimate {
        EffectEstimate {
            effect: effect.into(),
            uri: uri.map(String::from),
            range: (-12.0, 12.0),
            fixed,
            param: "gain".into(),
            estimates: vec![(0.0, 0.1), (0.0, 0.3), (1.0, 0.8)],
            mse,
            pearson: 0.5,
        }
    }

    #[test]
    fn param_est_table_marks_unseen_plugins_and_held_values() {
        let config = ParamEstConfig { targets: vec![0.0, 1.0], trials: 2, ..Default::default() };
        let result = ParamEstResult {
            metric: "encoder".into(),
            effects: vec![
                estimate("eq", None, vec![("mid1_q".into(), 0.5)], 0.01),
                estimate("overdrive", Some("urn:x:overdrive"), Vec::new(), 0.03),
            ],
            mean_mse: 0.02,
            mean_pearson: 0.5,
            builtin: Some(GroupMeans { mse: 0.01, pearson: 0.5 }),
            unseen_lv2: None,
        };
        let (md, (name, svg)) = param_est_section(&result, &config, "live");
        assert!(
            md.starts_with("## Parameter estimation (2 targets × 2 trials, profile live, metric encoder)")
        );
        assert!(md.contains("| eq | gain (mid1_q = 0.5) | -12…12 | 0.010 | 0.50 |\n"), "{md}");
        assert!(md.contains("| overdrive (LV2, unseen) | gain | -12…12 | 0.030 | 0.50 |\n"), "{md}");
        assert!(md.contains("| *mean, built-in effects* | | | 0.010 | 0.50 |\n"), "{md}");
        assert!(!md.contains("unseen LV2 plugins"), "no group row without its effects: {md}");
        assert!(md.contains("| **mean** | | | **0.020** | **0.50** |"), "{md}");
        assert_eq!(name, "param-est-encoder.svg");
        assert!(svg.contains("ideal") && svg.contains("overdrive"));
    }

    fn distance(total: f64) -> Distance {
        Distance { total, spectral: total / 2.0, dynamics: total / 4.0, width: total / 4.0, level_db: 0.0 }
    }

    fn system(name: &str, gain: f64, seconds: Option<f64>) -> SystemScore {
        SystemScore {
            system: name.into(),
            mean_similarity: 0.9,
            similarities: vec![0.9],
            mean_param_error: seconds.map(|_| 0.2),
            mean_seconds: seconds,
            distances: vec![distance(1.0)],
            gains: vec![gain],
            median_gain: gain,
            median_gain_interval: [gain - 0.1, gain + 0.1],
            share_closer: 1.0,
            by_source: vec![SourceScore {
                source: "sox".into(),
                cases: 1,
                mean_similarity: 0.9,
                median_gain: gain,
                median_gain_interval: [gain - 0.1, gain + 0.1],
                share_closer: 1.0,
                mean_param_error: None,
            }],
            by_class: vec![SourceScore {
                source: "dynamics".into(),
                cases: 1,
                mean_similarity: 0.9,
                median_gain: gain,
                median_gain_interval: [gain - 0.1, gain + 0.1],
                share_closer: 1.0,
                mean_param_error: None,
            }],
            settings: Vec::new(),
        }
    }

    #[test]
    fn transfer_tables_per_system_source_and_case() {
        let result = TransferResult {
            metric: "mfcc".into(),
            params: vec!["eq.low_gain".into()],
            pairs: vec![TransferPair {
                source: "sox".into(),
                preset: "radio".into(),
                input: 3,
                reference: 4,
                extra_references: Vec::new(),
                input_distance: distance(8.0),
                classes: vec!["dynamics".into()],
                true_setting: None,
            }],
            systems: vec![system("input", 0.0, None), system("match:live", 0.25, Some(1.5))],
        };
        let (md, (name, _)) = transfer_section(&result, Path::new("c.toml"), 1, 1, 12.0);
        assert!(md.starts_with(
            "## Style transfer (1 reference styles × 1 pairs = 1 cases, chain c.toml, metric mfcc, 12 s)"
        ));
        // Systems without a parameter error or time leave the cells empty.
        assert!(md.contains("| input | 0.900 | 0.000 | [-0.10, 0.10] | 100 % |  |  |\n"), "{md}");
        assert!(
            md.contains("| match:live | 0.900 | 0.250 | [0.15, 0.35] | 100 % | 0.200 | 1.50 |\n"),
            "{md}"
        );
        assert!(
            md.contains("| system | sox (1) |\n|---|---|\n| input | 0.000 [-0.10, 0.10] / 100 % |\n"),
            "{md}"
        );
        assert!(md.contains("| system | dynamics (1) |\n|---|---|\n| input | 0.000 / 100 % |\n| match:live | 0.250 / 100 % |\n"), "{md}");
        assert!(
            md.contains("| 1 | sox | radio | 3 | 4 | 8.00 (4.00 + 2.00 + 2.00) | 0.00 | 0.25 |\n"),
            "{md}"
        );
        assert_eq!(name, "transfer-mfcc.svg");
    }

    #[test]
    fn match_table_per_profile_and_parameter() {
        let profile = |name: &str, error: f64| ProfileResult {
            profile: name.into(),
            config: MatchConfig { population: 8, max_generations: 5, ..Default::default() },
            mean_gap: 0.01,
            median_gap: 0.005,
            within_002: 0.5,
            mean_similarity: [0.8, 0.9, 0.95],
            param_error: [("eq.low_gain".to_string(), error)].into(),
            mean_param_error: error,
            mean_seconds: 2.0,
            max_seconds: 3.0,
            mean_evaluations: 40.0,
            evaluations_per_second: 20.0,
            render_share: 0.25,
            cases: Vec::new(),
        };
        let md = match_table(&[profile("live", 0.1), profile("st-ito", 0.2)], Path::new("c.toml"), 2, "mfcc");
        assert!(md.starts_with("## Synthetic match cases (2 cases, chain c.toml, metric mfcc)"), "{md}");
        assert!(
            md.contains("| live | 8 × 5 | 40 | 0.0100 / 0.0050 | 50 % | 0.800 → 0.900 (0.950) | 0.100 | 2.00 / 3.00 | 20 | 25 % |\n"),
            "{md}"
        );
        assert!(
            md.contains("| parameter | live | st-ito |\n|---|---|---|\n| eq.low_gain | 0.100 | 0.200 |\n"),
            "{md}"
        );
    }
}
