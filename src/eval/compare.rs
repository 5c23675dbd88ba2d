//! Two systems of `eval transfer` on the same cases, side by side (`fxmatch eval compare`).
//!
//! A candidate (another predictor, another profile) is judged against what ships by two runs of
//! `eval transfer` with the same seed, chain, styles and content: the same cases. Each run's own
//! interval ([`super::bootstrap::median_interval`]) is wide, because the styles differ in
//! difficulty; on the same cases that difficulty is shared, so the paired difference of the
//! medians ([`paired_median_difference`]) is told apart from noise with far fewer cases.

use serde::Deserialize;

use super::bootstrap::{group_bootstrap_interval, paired_median_difference};
use super::transfer::{median, CHAIN_SOURCE, EXTERNAL_SOURCE};
use crate::error::{Error, Result};

/// One case of a run, as `transfer.json` lists it: what makes two runs' cases the same.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CaseKey {
    /// `fxmatch-chain`, `sox` or `lv2file`.
    pub source: String,
    /// The reference style.
    pub preset: String,
    /// Index of the input clip.
    pub input: usize,
    /// Index of the reference content clip.
    pub reference: usize,
    /// Effect classes of the reference's processing (external cases).
    #[serde(default)]
    pub classes: Vec<String>,
}

/// One system's transfer gains, in case order.
#[derive(Debug, Clone, Deserialize)]
pub struct SystemGains {
    /// The system's name (`predict`, `match:live`, …).
    pub system: String,
    /// Transfer gain per case.
    pub gains: Vec<f64>,
}

/// The part of one metric's `eval transfer` result that a comparison reads.
#[derive(Debug, Clone, Deserialize)]
pub struct TransferRun {
    /// The metric the run optimised.
    pub metric: String,
    /// Its cases.
    pub pairs: Vec<CaseKey>,
    /// Its systems.
    pub systems: Vec<SystemGains>,
}

impl TransferRun {
    /// The system named `name`, or an error that lists the ones there are.
    pub fn system(&self, name: &str) -> Result<&SystemGains> {
        self.systems.iter().find(|s| s.system == name).ok_or_else(|| {
            Error::invalid(
                format!("no system `{name}` in the {} run", self.metric),
                format!(
                    "name one of: {}",
                    self.systems.iter().map(|s| s.system.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }
}

/// Several runs as one: the cases of all, one after the other, and the system `system` of
/// each. Pooling two draws of the cases (`--seed 0` and `--seed 1`) doubles the cases per style;
/// the styles keep their names, so a resampled style brings its cases from every draw.
pub fn pool(runs: &[TransferRun], system: &str) -> Result<TransferRun> {
    let first =
        runs.first().ok_or_else(|| Error::invalid("no run to pool", "pass at least one transfer.json"))?;
    if let Some(other) = runs.iter().find(|r| r.metric != first.metric) {
        return Err(Error::invalid(
            format!("runs of two metrics ({} and {})", first.metric, other.metric),
            "pass --metric, or pool runs of the same metric",
        ));
    }
    let mut gains = Vec::new();
    for run in runs {
        gains.extend_from_slice(&run.system(system)?.gains);
    }
    Ok(TransferRun {
        metric: first.metric.clone(),
        pairs: runs.iter().flat_map(|r| r.pairs.iter().cloned()).collect(),
        systems: vec![SystemGains { system: system.to_string(), gains }],
    })
}

/// The runs (one per metric) of a `transfer.json` written by `fxmatch eval transfer`.
pub fn parse_transfer_json(text: &str) -> Result<Vec<TransferRun>> {
    #[derive(Deserialize)]
    struct Entry {
        result: TransferRun,
    }
    #[derive(Deserialize)]
    struct File {
        results: Vec<Entry>,
    }
    let file: File = serde_json::from_str(text).map_err(|e| {
        Error::invalid(
            format!("not a transfer.json of `fxmatch eval transfer`: {e}"),
            "pass the transfer.json that `fxmatch eval transfer --out DIR` wrote into DIR",
        )
    })?;
    let runs: Vec<TransferRun> = file.results.into_iter().map(|e| e.result).collect();
    for run in &runs {
        if let Some(s) = run.systems.iter().find(|s| s.gains.len() != run.pairs.len()) {
            return Err(Error::invalid(
                format!("system `{}` has {} gains for {} cases", s.system, s.gains.len(), run.pairs.len()),
                "the file was edited or cut short: run `fxmatch eval transfer` again",
            ));
        }
    }
    Ok(runs)
}

/// One group of cases (all, a source, external, an effect class): `new` against `base`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupComparison {
    /// `all`, a source, `external` or an effect class.
    pub group: String,
    /// Cases in the group.
    pub cases: usize,
    /// Median gain of the base system.
    pub base_median: f64,
    /// Median gain of the new system.
    pub new_median: f64,
    /// `new_median − base_median`.
    pub difference: f64,
    /// Its 90 % interval, the styles resampled with both systems together.
    pub interval: [f64; 2],
    /// Share of the cases where the new system's output is strictly nearer the oracle.
    pub share_new_nearer: f64,
    /// Share of the cases where the base system's output is strictly nearer the oracle.
    pub share_base_nearer: f64,
    /// A 90 % interval of `share_new_nearer − share_base_nearer` (styles resampled): a
    /// sign test that does not care by how much, where the medians may barely move.
    pub nearer_interval: [f64; 2],
}

/// `new` (a system of the run `new_run`) against `base` (of `base_run`) on every group of
/// cases: all, each source, `external` (the sources other than the chain's own), then each
/// effect class of the external cases. The two runs must have the same cases, in the same
/// order (same seed, chain, styles, content and pairs per style).
pub fn compare(
    base_run: &TransferRun,
    base: &str,
    new_run: &TransferRun,
    new: &str,
) -> Result<Vec<GroupComparison>> {
    if base_run.pairs != new_run.pairs {
        let first = base_run.pairs.iter().zip(&new_run.pairs).position(|(a, b)| a != b);
        return Err(Error::invalid(
            format!(
                "the two runs have other cases ({} and {}{})",
                base_run.pairs.len(),
                new_run.pairs.len(),
                first.map_or(String::new(), |i| format!("; case {} differs", i + 1))
            ),
            "run both with the same --seed, --pairs, --chain, --presets, --source and --content",
        ));
    }
    let (base_gains, new_gains) = (&base_run.system(base)?.gains, &new_run.system(new)?.gains);
    let pairs = &base_run.pairs;
    let mut groups: Vec<(String, Vec<usize>)> = vec![("all".into(), (0..pairs.len()).collect())];
    let mut sources: Vec<&str> = Vec::new();
    for p in pairs {
        if !sources.contains(&p.source.as_str()) {
            sources.push(&p.source);
        }
    }
    for s in &sources {
        groups.push((s.to_string(), (0..pairs.len()).filter(|&i| pairs[i].source == *s).collect()));
    }
    let external: Vec<usize> = (0..pairs.len()).filter(|&i| pairs[i].source != CHAIN_SOURCE).collect();
    if sources.iter().filter(|s| **s != CHAIN_SOURCE).count() > 1 {
        groups.push((EXTERNAL_SOURCE.into(), external.clone()));
    }
    let mut classes: Vec<&str> = Vec::new();
    for &i in &external {
        for c in &pairs[i].classes {
            if !classes.contains(&c.as_str()) {
                classes.push(c);
            }
        }
    }
    for c in classes {
        groups.push((
            c.to_string(),
            external.iter().copied().filter(|&i| pairs[i].classes.iter().any(|k| k == c)).collect(),
        ));
    }
    Ok(groups
        .into_iter()
        .filter(|(_, idx)| !idx.is_empty())
        .map(|(group, idx)| {
            let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
            let (b, n) = (pick(base_gains), pick(new_gains));
            let styles: Vec<&str> = idx.iter().map(|&i| pairs[i].preset.as_str()).collect();
            let (difference, interval) = paired_median_difference(&b, &n, &styles);
            let share = |f: fn(f64, f64) -> bool| {
                b.iter().zip(&n).filter(|(b, n)| f(**b, **n)).count() as f64 / idx.len() as f64
            };
            // +1 where new is nearer, −1 where base is, 0 for a tie: the mean is the difference
            // of the two shares.
            let sign: Vec<f64> =
                b.iter().zip(&n).map(|(b, n)| (n - b).signum() * f64::from(n != b)).collect();
            let nearer_interval = group_bootstrap_interval(&styles, |drawn| {
                // `+ 0.0` turns an all-tie −0 into 0, so that it prints as +0 %.
                drawn.iter().map(|&i| sign[i]).sum::<f64>() / drawn.len() as f64 + 0.0
            });
            GroupComparison {
                group,
                cases: idx.len(),
                base_median: median(&b),
                new_median: median(&n),
                difference,
                interval,
                share_new_nearer: share(|b, n| n > b),
                share_base_nearer: share(|b, n| b > n),
                nearer_interval,
            }
        })
        .collect())
}

/// The comparison as a Markdown table; `base` and `new` label the columns.
pub fn compare_table(rows: &[GroupComparison], base: &str, new: &str) -> String {
    let mut md = format!(
        "| cases | {base} | {new} | difference [90 % interval] | {new} nearer | {base} nearer | nearer, new − base [90 % interval] |\n|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        md += &format!(
            "| {} ({}) | {:.3} | {:.3} | {:+.3} [{:+.3}, {:+.3}] | {:.0} % | {:.0} % | {:+.0} % [{:+.0} %, {:+.0} %] |\n",
            r.group,
            r.cases,
            r.base_median,
            r.new_median,
            r.difference,
            r.interval[0],
            r.interval[1],
            100.0 * r.share_new_nearer,
            100.0 * r.share_base_nearer,
            100.0 * (r.share_new_nearer - r.share_base_nearer),
            100.0 * r.nearer_interval[0],
            100.0 * r.nearer_interval[1]
        );
    }
    md += "\nMedian transfer gains; difference = new − base, its interval by a bootstrap that resamples \
           the reference styles with both systems together; nearer = the share of cases where that \
           system's output is strictly nearer the oracle, and the last column their difference with \
           its interval (a sign test: which is nearer, not by how much). An interval that spans 0 \
           does not tell the two apart on these cases.\n";
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(gains: &[(&str, Vec<f64>)]) -> TransferRun {
        let case = |source: &str, preset: &str, input: usize, classes: &[&str]| CaseKey {
            source: source.into(),
            preset: preset.into(),
            input,
            reference: input + 1,
            classes: classes.iter().map(|c| c.to_string()).collect(),
        };
        TransferRun {
            metric: "mfcc".into(),
            pairs: vec![
                case(CHAIN_SOURCE, "lofi", 0, &[]),
                case(CHAIN_SOURCE, "lofi", 1, &[]),
                case("sox", "plate", 2, &["eq", "ambience"]),
                case("sox", "plate", 3, &["eq", "ambience"]),
                case("lv2file", "tube", 4, &["distortion"]),
                case("lv2file", "tube", 5, &["distortion"]),
            ],
            systems: gains
                .iter()
                .map(|(s, g)| SystemGains { system: s.to_string(), gains: g.clone() })
                .collect(),
        }
    }

    #[test]
    fn groups_by_source_external_and_class_with_paired_differences() {
        let r = run(&[
            ("predict", vec![0.1, 0.3, -0.2, 0.0, 0.5, 0.5]),
            ("hybrid:live", vec![0.2, 0.4, -0.1, 0.1, 0.4, 0.4]),
        ]);
        let rows = compare(&r, "predict", &r, "hybrid:live").unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
        assert_eq!(
            names,
            ["all", CHAIN_SOURCE, "sox", "lv2file", EXTERNAL_SOURCE, "eq", "ambience", "distortion"]
        );
        let chain = &rows[1];
        assert_eq!(chain.cases, 2);
        assert!((chain.difference - 0.1).abs() < 1e-12 && (chain.interval[0] - 0.1).abs() < 1e-12);
        assert_eq!((chain.share_new_nearer, chain.share_base_nearer), (1.0, 0.0));
        assert_eq!(chain.nearer_interval, [1.0, 1.0]);
        let tube = &rows[3];
        assert!((tube.difference + 0.1).abs() < 1e-12, "{tube:?}");
        assert_eq!((tube.share_new_nearer, tube.share_base_nearer), (0.0, 1.0));
        // All six: new nearer in 4, base in 2; the styles disagree, so the interval is wide.
        let [lo, hi] = rows[0].nearer_interval;
        assert!(lo < 1.0 / 3.0 && 1.0 / 3.0 < hi && lo >= -1.0 && hi <= 1.0, "{lo} {hi}");
        assert_eq!(rows[4].cases, 4);
        // A system against itself: no difference, nobody nearer.
        let same = compare(&r, "predict", &r, "predict").unwrap();
        assert!(same.iter().all(|g| g.difference == 0.0
            && g.interval == [0.0, 0.0]
            && g.share_new_nearer == 0.0
            && g.nearer_interval == [0.0, 0.0]));
        let md = compare_table(&rows, "predict", "hybrid:live");
        assert!(md.contains("| all (6) | 0.200 | 0.300 | +0.100 ["), "{md}");
        assert!(
            md.contains("| lv2file (2) | 0.500 | 0.400 | -0.100 [-0.100, -0.100] | 0 % | 100 % |"),
            "{md}"
        );
    }

    #[test]
    fn other_cases_or_a_missing_system_are_errors_that_say_what_to_do() {
        let a = run(&[("predict", vec![0.0; 6])]);
        let mut b = a.clone();
        b.pairs[2].input = 9;
        let e = compare(&a, "predict", &b, "predict").unwrap_err().to_string();
        assert!(e.contains("case 3 differs") && e.contains("same --seed"), "{e}");
        let e = compare(&a, "predict", &a, "hybrid:live").unwrap_err().to_string();
        assert!(e.contains("no system `hybrid:live`") && e.contains("name one of: predict"), "{e}");
    }

    #[test]
    fn pooled_draws_add_their_cases_and_keep_the_styles() {
        let a = run(&[("predict", vec![0.1; 6]), ("input", vec![0.0; 6])]);
        let mut b = run(&[("predict", vec![0.3; 6])]);
        b.pairs.iter_mut().for_each(|p| p.input += 10);
        let pooled = pool(&[a.clone(), b.clone()], "predict").unwrap();
        assert_eq!(pooled.pairs.len(), 12);
        assert_eq!(pooled.systems.len(), 1);
        assert_eq!(pooled.system("predict").unwrap().gains[..7], [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.3]);
        let rows = compare(&pool(&[a.clone(), a.clone()], "predict").unwrap(), "predict", &pooled, "predict")
            .unwrap_err();
        assert!(rows.to_string().contains("case 7 differs"), "{rows}");
        let e = pool(&[a, b], "input").unwrap_err().to_string();
        assert!(e.contains("no system `input`"), "{e}");
    }

    #[test]
    fn parses_what_eval_transfer_writes_and_refuses_other_json() {
        let text = r#"{"task": "style transfer", "results": [{"seconds": 1.0, "result": {
            "metric": "mfcc",
            "pairs": [{"source": "sox", "preset": "p", "input": 0, "reference": 1,
                       "input_distance": {"total": 1.0}, "classes": ["eq"]}],
            "systems": [{"system": "input", "gains": [0.0], "median_gain_interval": [null, null]}]}}]}"#;
        let runs = parse_transfer_json(text).unwrap();
        assert_eq!(runs[0].pairs[0].classes, ["eq"]);
        assert_eq!(runs[0].system("input").unwrap().gains, [0.0]);
        let e = parse_transfer_json(r#"{"results": 3}"#).unwrap_err().to_string();
        assert!(e.contains("not a transfer.json") && e.contains("--out DIR"), "{e}");
        let cut = text.replace(r#""gains": [0.0]"#, r#""gains": []"#);
        let e = parse_transfer_json(&cut).unwrap_err().to_string();
        assert!(e.contains("0 gains for 1 cases"), "{e}");
    }
}
