//! The match: search a chain's free parameters so that the rendered segment has the reference's
//! production style, as scored by a [`StyleMetric`] (ST-ITO's inference-time optimisation).
//!
//! # The least processing that reaches the style
//! A style metric also rewards copying the reference's *content* (its instrument, its
//! register), which a free search reaches by overshooting: heavy drive, deep EQ cuts, a
//! threshold at the bottom. Three things hold the search to the reference's processing:
//! - it **starts neutral** ([`Start::Neutral`]): every effect as close to transparent as its
//!   ranges allow ([`ParamSpec::neutral`](crate::effect::ParamSpec::neutral));
//! - a **prior** pulls toward neutral: CMA-ES maximises
//!   `similarity − prior · Σ (x_i − neutral_i)²` over the parameters that have a neutral value
//!   (normalised units, so a parameter moved across its whole range costs `prior`);
//! - an **effect selection** after the search sets each effect back to its start, least missed
//!   first, as long as the similarity stays within `selection_margin` of the best found.
//!
//! The outcome says which effects the result [uses](EffectUse): those whose setting, set back
//! to the start, changes the rendered segment by more than [`USED_DB`] of log-spectral
//! distance ([`log_spectral_distance`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cmaes::{Cmaes, CmaesConfig, EarlyStop};
use crate::audio::{log_spectral_distance, AudioBuffer};
use crate::chain::{Chain, ChainSpec};
use crate::error::{Error, Result};
use crate::metric::{similarity, Embedding, StyleMetric};
use crate::render::{check_sample_rate, render_into};

/// An effect whose setting, set back to its start, changes the rendered segment by more than
/// this log-spectral distance (dB) is reported as used. 0.5 dB is about the smallest broadband
/// level change listeners notice; a 1 dB shelf or a reverb at 3 % mix stays below it.
pub const USED_DB: f64 = 0.5;

/// Default [`MatchConfig::prior`] (chosen by measurement: docs/experiments.md).
pub const DEFAULT_PRIOR: f64 = 0.02;

/// Default [`MatchConfig::selection_margin`] (chosen by measurement: docs/experiments.md).
pub const DEFAULT_SELECTION_MARGIN: f64 = 0.005;

/// Where a match starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// Every free parameter at its neutral value, or its default where it has none
    /// ([`Chain::start_point`]).
    Neutral,
    /// Every free parameter in the middle of its searched range (ST-ITO's start).
    Middle,
}

impl Start {
    /// Names as written on command lines.
    pub const NAMES: [&'static str; 2] = ["neutral", "middle"];

    /// By name (`neutral`, `middle`); the error lists the names.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "neutral" => Ok(Start::Neutral),
            "middle" => Ok(Start::Middle),
            other => Err(Error::invalid(
                format!("unknown start `{other}`"),
                format!("use one of: {}", Self::NAMES.join(", ")),
            )),
        }
    }
}

/// Settings of a match. The search follows ST-ITO (population 64, at most 25 generations, σ 0.3,
/// stop after 10 generations without an improvement of 0.01) but starts neutral, with a prior
/// toward neutral and an effect selection (module docs).
#[derive(Debug, Clone, Serialize)]
pub struct MatchConfig {
    /// Candidates per generation (λ).
    pub population: usize,
    /// Most generations.
    pub max_generations: usize,
    /// Most candidate evaluations in all (overrides generations when smaller).
    pub budget: Option<usize>,
    /// Initial step size in normalised units.
    pub sigma0: f64,
    /// Where the search starts.
    pub start: Start,
    /// A start point of its own instead of [`MatchConfig::start`] (normalised, one value in
    /// [0, 1] per free parameter): the parameter predictor's estimate (`match --mode hybrid`).
    pub start_at: Option<Vec<f64>>,
    /// Weight of the pull toward neutral: the search maximises `similarity − prior · Σ (x_i −
    /// neutral_i)²` over parameters with a neutral value (normalised units). 0: no prior.
    pub prior: f64,
    /// Weight of the pull toward [`MatchConfig::start_at`] (the prediction in hybrid mode): the
    /// search also subtracts `start_prior · Σ (x_i − start_i)²` over every free parameter, so it
    /// leaves the prediction only for a clear gain in similarity. 0 (or no `start_at`): none.
    pub start_prior: f64,
    /// Effect selection after the search: set effects back to their start while the similarity
    /// stays within this of the best found (`None`: keep the search's result as it is).
    pub selection_margin: Option<f64>,
    /// Random seed: the same seed, input and reference give the same result.
    pub seed: u64,
    /// Generations without improvement before stopping early (`None`: never).
    pub patience: Option<usize>,
    /// Smallest similarity gain that counts as improvement.
    pub min_delta: f64,
    /// Worker threads (each with its own chain and metric instance).
    pub threads: usize,
    /// Longest stretch of the input, in seconds, used for the search (the loudest window).
    pub segment_seconds: f32,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            population: 64,
            max_generations: 25,
            budget: None,
            sigma0: 0.3,
            start: Start::Neutral,
            start_at: None,
            prior: DEFAULT_PRIOR,
            start_prior: 0.0,
            selection_margin: Some(DEFAULT_SELECTION_MARGIN),
            seed: 0,
            patience: Some(10),
            min_delta: 0.01,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            segment_seconds: 3.0,
        }
    }
}

impl MatchConfig {
    /// Names of the built-in profiles, for [`MatchConfig::profile`].
    pub const PROFILES: [&'static str; 2] = ["st-ito", "live"];

    /// A named profile: `st-ito` is ST-ITO's search (the default: population 64, at most 25
    /// generations, up to 1600 evaluations); `live` is the pedalboard's search, sized to finish
    /// a 3 s segment of the default chain in under 3 s on two cores (see `fxmatch eval match`).
    pub fn profile(name: &str) -> Result<Self> {
        match name {
            "st-ito" => Ok(Self::default()),
            "live" => Ok(Self { population: 16, max_generations: 16, patience: Some(8), ..Self::default() }),
            other => Err(Error::invalid(
                format!("unknown match profile `{other}`"),
                format!("use one of: {}", Self::PROFILES.join(", ")),
            )),
        }
    }

    /// Check the settings; errors say which one is wrong and what would work.
    pub fn validate(&self) -> Result<()> {
        if self.population < 2 {
            return Err(Error::invalid(
                format!("population {} is too small", self.population),
                "use 2 or more (ST-ITO: 64)",
            ));
        }
        if self.max_generations == 0 {
            return Err(Error::invalid(
                "at most 0 generations leaves nothing to search",
                "allow at least 1 generation",
            ));
        }
        if let Some(b) = self.budget {
            if b < self.population {
                return Err(Error::invalid(
                    format!("a budget of {b} evaluations is less than one generation of {}", self.population),
                    format!("give --budget {} or more, or a smaller --population", self.population),
                ));
            }
        }
        if !(self.sigma0 > 0.0 && self.sigma0 <= 1.0) {
            return Err(Error::invalid(
                format!("sigma0 {} must lie in (0, 1]", self.sigma0),
                "use --sigma 0.3 (ST-ITO's)",
            ));
        }
        if !(self.prior.is_finite() && self.prior >= 0.0) {
            return Err(Error::invalid(
                format!("prior {} is not a weight of 0 or more", self.prior),
                format!("use --prior 0 (none) up to about 0.1; the default is {DEFAULT_PRIOR}"),
            ));
        }
        if !(self.start_prior.is_finite() && self.start_prior >= 0.0) {
            return Err(Error::invalid(
                format!("start prior {} is not a weight of 0 or more", self.start_prior),
                "use --start-prior 0 (none) up to about 10; hybrid mode's default is 3",
            ));
        }
        if let Some(m) = self.selection_margin {
            if !(m.is_finite() && (0.0..1.0).contains(&m)) {
                return Err(Error::invalid(
                    format!("selection margin {m} is not a similarity difference in [0, 1)"),
                    format!("use --selection-margin {DEFAULT_SELECTION_MARGIN}, or --no-selection"),
                ));
            }
        }
        if self.segment_seconds.is_nan() || self.segment_seconds < 0.5 {
            return Err(Error::invalid(
                "the search segment must be at least 0.5 s",
                "use --segment 3 (the default)",
            ));
        }
        Ok(())
    }
}

/// One generation's news, for progress bars and OSC.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    /// Generations done.
    pub generation: usize,
    /// Most generations this run may take.
    pub max_generations: usize,
    /// Candidates evaluated so far.
    pub evaluations: usize,
    /// Best similarity so far.
    pub best_similarity: f32,
}

/// A free parameter's found value, in plain units.
#[derive(Debug, Clone, Serialize)]
pub struct FoundParam {
    /// Effect id.
    pub effect: String,
    /// Parameter id.
    pub param: String,
    /// Plain value.
    pub value: f32,
    /// Unit.
    pub unit: String,
    /// Normalised value in the searched range.
    pub normalized: f64,
}

/// Whether the result uses one effect of the chain.
#[derive(Debug, Clone, Serialize)]
pub struct EffectUse {
    /// Effect id.
    pub effect: String,
    /// Log-spectral distance (dB) between the segment rendered at the result and at the result
    /// with this effect's free parameters at rest ([`Chain::start_point`]: neutral values, else
    /// defaults).
    pub distance_db: f64,
    /// `distance_db` exceeds [`USED_DB`].
    pub used: bool,
    /// The effect selection set this effect back to rest.
    pub deselected: bool,
}

/// What a match found and what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct MatchOutcome {
    /// Best normalised vector.
    pub x: Vec<f64>,
    /// Its parameters in plain units.
    pub params: Vec<FoundParam>,
    /// Similarity of the processed segment to the reference at `x`.
    pub similarity: f32,
    /// Similarity of the unprocessed segment to the reference.
    pub similarity_input: f32,
    /// Similarity at the start point.
    pub similarity_start: f32,
    /// Best similarity the search found, before the effect selection.
    pub similarity_search: f32,
    /// The priors' penalty at `x` (`prior · Σ (x_i − neutral_i)²`, plus `start_prior · Σ (x_i −
    /// start_i)²` in hybrid mode).
    pub penalty: f64,
    /// Best objective (similarity minus the prior's penalty) after each generation.
    pub history: Vec<f32>,
    /// Each effect with free parameters: does the result use it?
    pub effects: Vec<EffectUse>,
    /// Candidates evaluated (renders and embeddings), search and selection.
    pub evaluations: usize,
    /// Of these, evaluated by the effect selection.
    pub selection_evaluations: usize,
    /// Generations run.
    pub generations: usize,
    /// Why the search stopped.
    pub stop_reason: String,
    /// Wall time of the search.
    pub seconds: f64,
    /// Time spent rendering, summed over workers (CPU seconds).
    pub render_seconds: f64,
    /// Time spent embedding, summed over workers (CPU seconds).
    pub embed_seconds: f64,
    /// Worker threads used.
    pub threads: usize,
}

impl MatchOutcome {
    /// Ids of the effects the result uses.
    pub fn used_effects(&self) -> Vec<&str> {
        self.effects.iter().filter(|e| e.used).map(|e| e.effect.as_str()).collect()
    }
}

struct Worker {
    chain: Chain,
    metric: Box<dyn StyleMetric>,
    out_l: Vec<f32>,
    out_r: Vec<f32>,
    render: Duration,
    embed: Duration,
}

impl Worker {
    /// Similarity of the segment rendered at `x` to the reference (NaN when the metric fails).
    fn evaluate(&mut self, x: &[f64], seg_l: &[f32], seg_r: &[f32], rate: u32, reference: &Embedding) -> f32 {
        let t = Instant::now();
        self.chain.set_normalized(x);
        render_into(&mut self.chain, seg_l, seg_r, &mut self.out_l, &mut self.out_r);
        let t2 = Instant::now();
        self.render += t2 - t;
        let s = match self.metric.embed(&self.out_l, &self.out_r, rate) {
            Ok(z) => similarity(&z, reference),
            Err(_) => f32::NAN,
        };
        self.embed += t2.elapsed();
        s
    }

    /// The segment rendered at `x`.
    fn render(&mut self, x: &[f64], seg_l: &[f32], seg_r: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let t = Instant::now();
        self.chain.set_normalized(x);
        render_into(&mut self.chain, seg_l, seg_r, &mut self.out_l, &mut self.out_r);
        self.render += t.elapsed();
        (self.out_l.clone(), self.out_r.clone())
    }
}

/// The search vector's coordinates grouped by effect (chain order), for the effect selection
/// and the usage report.
fn effect_groups(chain: &Chain) -> Vec<(String, Vec<usize>)> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, p) in chain.free_params().iter().enumerate() {
        match groups.last_mut() {
            Some((id, members)) if *id == p.effect_id => members.push(i),
            _ => groups.push((p.effect_id.clone(), vec![i])),
        }
    }
    groups
}

/// `x` with the coordinates in `group` set to `start`.
fn reset_group(x: &[f64], group: &[usize], start: &[f64]) -> Vec<f64> {
    let mut y = x.to_vec();
    for &i in group {
        y[i] = start[i];
    }
    y
}

/// Searches a chain's free parameters for a segment and a reference embedding. Built once
/// (one chain instance and one metric instance per worker thread), run many times.
pub struct Matcher {
    config: MatchConfig,
    workers: Vec<Worker>,
}

impl Matcher {
    /// Build the workers. Fails on a chain without free parameters or invalid settings.
    pub fn new(spec: &ChainSpec, metric: &dyn StyleMetric, config: MatchConfig) -> Result<Self> {
        config.validate()?;
        if spec.num_free() == 0 {
            return Err(Error::invalid(
                format!("chain `{}` has no free parameter, so there is nothing to search", spec.name),
                "list parameters under [effect.free] in the chain file",
            ));
        }
        if let Some(x) = &config.start_at {
            if x.len() != spec.num_free() || !x.iter().all(|v| (0.0..=1.0).contains(v)) {
                return Err(Error::invalid(
                    format!(
                        "a start point of {} values for chain `{}` with {} free parameters (each must lie in [0, 1])",
                        x.len(),
                        spec.name,
                        spec.num_free()
                    ),
                    "give one normalised value per free parameter (`fxmatch chain show` lists them)",
                ));
            }
        }
        let threads = config.threads.max(1);
        let workers = (0..threads)
            .map(|_| {
                Ok(Worker {
                    chain: Chain::from_spec(spec)?,
                    metric: metric.boxed_clone(),
                    out_l: Vec::new(),
                    out_r: Vec::new(),
                    render: Duration::ZERO,
                    embed: Duration::ZERO,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { config, workers })
    }

    /// Sets (or with `None` clears) [`MatchConfig::start_at`] for the next runs: the hybrid
    /// match starts each search at that search's prediction. Errors like [`Matcher::new`] on a
    /// point of the wrong length or outside [0, 1].
    pub fn set_start_at(&mut self, x: Option<Vec<f64>>) -> Result<()> {
        if let Some(x) = &x {
            let n = self.workers[0].chain.num_free();
            if x.len() != n || !x.iter().all(|v| (0.0..=1.0).contains(v)) {
                return Err(Error::invalid(
                    format!(
                        "a start point of {} values for {n} free parameters (each must lie in [0, 1])",
                        x.len()
                    ),
                    "give one normalised value per free parameter",
                ));
            }
        }
        self.config.start_at = x;
        Ok(())
    }

    /// The settings.
    pub fn config(&self) -> &MatchConfig {
        &self.config
    }

    /// The normalised start point under these settings.
    pub fn start_point(&self) -> Vec<f64> {
        if let Some(x) = &self.config.start_at {
            return x.clone();
        }
        let chain = &self.workers[0].chain;
        match self.config.start {
            Start::Neutral => chain.start_point(),
            Start::Middle => vec![0.5; chain.num_free()],
        }
    }

    /// Search. `segment_*` is the (already cropped) input, `reference` the reference's embedding
    /// under the same metric. Stops at the budget, by early stopping, or when `abort` is set
    /// (checked between generations; an aborted search skips the effect selection); always
    /// returns the best found so far.
    pub fn run(
        &mut self,
        segment_l: &[f32],
        segment_r: &[f32],
        sample_rate: u32,
        reference: &Embedding,
        abort: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<MatchOutcome> {
        let start_time = Instant::now();
        let (seg_l, seg_r) = self.prepare(segment_l, segment_r, sample_rate)?;
        let c = self.config.clone();
        let input_embedding = self.workers[0].metric.embed(seg_l, seg_r, sample_rate)?;
        let similarity_input = similarity(&input_embedding, reference);
        let x0 = self.start_point();
        // The prior's anchor: the neutral value where a parameter has one; others are free.
        let anchor: Vec<Option<f64>> =
            self.workers[0].chain.free_params().iter().map(|p| p.neutral).collect();
        // In hybrid mode, a second anchor: the prediction, over every parameter.
        let start_anchor: Option<&[f64]> = c.start_at.as_deref().filter(|_| c.start_prior > 0.0);
        let start_penalty = |x: &[f64]| -> f64 {
            start_anchor
                .map_or(0.0, |s| c.start_prior * x.iter().zip(s).map(|(v, a)| (v - a) * (v - a)).sum::<f64>())
        };
        let penalty = |x: &[f64]| -> f64 {
            let neutral =
                x.iter().zip(&anchor).filter_map(|(v, a)| a.map(|a| (v - a) * (v - a))).sum::<f64>();
            c.prior * neutral + start_penalty(x)
        };
        let objective = |s: f32, x: &[f64]| s as f64 - penalty(x);
        let similarity_start = self.workers[0].evaluate(&x0, seg_l, seg_r, sample_rate, reference);

        let mut max_evals = (c.population * c.max_generations) as u64;
        if let Some(b) = c.budget {
            max_evals = max_evals.min(b as u64);
        }
        // A neutral start often lies on a bound (mix 0, ratio 1): the bound transform maps it to
        // the edge of its quadratic zone, from where σ0 still spreads candidates into the box.
        let cma_config = CmaesConfig::new(x0.clone(), c.sigma0)
            .with_unit_box()
            .with_popsize(c.population)
            .with_seed(c.seed)
            .with_max_generations(c.max_generations as u64)
            .with_max_evaluations(max_evals)
            .with_early_stop(c.patience.map(|p| EarlyStop { patience: p as u64, min_delta: c.min_delta }));
        let mut cma = Cmaes::new(cma_config)?;
        let max_generations = (max_evals as usize / c.population).min(c.max_generations);
        let mut history = Vec::new();
        let mut best_x = x0.clone();
        let mut best_s = similarity_start;
        let mut best_f = if best_s.is_finite() { objective(best_s, &best_x) } else { f64::NEG_INFINITY };
        let mut stop = None;
        while stop.is_none() {
            if abort.load(Ordering::Relaxed) {
                stop = Some("aborted".to_string());
                break;
            }
            if let Some(reason) = cma.stop() {
                stop = Some(reason.as_str().to_string());
                break;
            }
            let candidates = cma.ask();
            let scores = self.evaluate_all(&candidates, seg_l, seg_r, sample_rate, reference);
            let fitness: Vec<f64> = candidates
                .iter()
                .zip(&scores)
                .map(|(x, &s)| if s.is_finite() { -objective(s, x) } else { f64::NAN })
                .collect();
            for ((x, &s), &f) in candidates.iter().zip(&scores).zip(&fitness) {
                if -f > best_f {
                    best_f = -f;
                    best_s = s;
                    best_x.clone_from(x);
                }
            }
            cma.tell(&fitness)?;
            history.push(best_f as f32);
            progress(&Progress {
                generation: cma.generation() as usize,
                max_generations,
                evaluations: cma.evaluations() as usize + 1,
                best_similarity: best_s,
            });
        }
        let similarity_search = best_s;
        let groups = effect_groups(&self.workers[0].chain);
        // Selection and usage compare with each effect at rest (neutral), whatever the start.
        let rest = self.workers[0].chain.start_point();

        // Effect selection: try each effect back at its start (all at once, in parallel), then
        // set them back least missed first while the similarity stays within the margin. In
        // hybrid mode the similarity is counted less the pull toward the prediction, so that the
        // selection does not undo the prediction for a metric that cannot tell it apart.
        let kept = |s: f32, x: &[f64]| s - start_penalty(x) as f32;
        let mut deselected = vec![false; groups.len()];
        let mut selection_evaluations = 0;
        if let (Some(margin), false) = (c.selection_margin, abort.load(Ordering::Relaxed)) {
            let floor = kept(similarity_search, &best_x) - margin as f32;
            let changed: Vec<usize> =
                (0..groups.len()).filter(|&g| groups[g].1.iter().any(|&i| best_x[i] != rest[i])).collect();
            let trials: Vec<Vec<f64>> =
                changed.iter().map(|&g| reset_group(&best_x, &groups[g].1, &rest)).collect();
            let alone = self.evaluate_all(&trials, seg_l, seg_r, sample_rate, reference);
            let alone_kept: Vec<f32> = alone.iter().zip(&trials).map(|(&s, x)| kept(s, x)).collect();
            selection_evaluations += trials.len();
            let mut order: Vec<usize> = (0..changed.len()).filter(|&k| alone_kept[k] >= floor).collect();
            order.sort_by(|&a, &b| alone_kept[b].total_cmp(&alone_kept[a]).then(a.cmp(&b)));
            for (rank, &k) in order.iter().enumerate() {
                let g = changed[k];
                let (x, s) = if rank == 0 {
                    (trials[k].clone(), alone[k])
                } else {
                    let x = reset_group(&best_x, &groups[g].1, &rest);
                    selection_evaluations += 1;
                    let s = self.workers[0].evaluate(&x, seg_l, seg_r, sample_rate, reference);
                    (x, s)
                };
                if kept(s, &x) >= floor {
                    best_x = x;
                    best_s = s;
                    deselected[g] = true;
                }
            }
        }

        let (effects, params) = self.usage(&best_x, &deselected, seg_l, seg_r);
        Ok(MatchOutcome {
            penalty: penalty(&best_x),
            x: best_x,
            params,
            similarity: best_s,
            similarity_input,
            similarity_start,
            similarity_search,
            history,
            effects,
            evaluations: cma.evaluations() as usize + 1 + selection_evaluations,
            selection_evaluations,
            generations: cma.generation() as usize,
            stop_reason: stop.unwrap_or_default(),
            seconds: start_time.elapsed().as_secs_f64(),
            render_seconds: self.workers.iter().map(|w| w.render.as_secs_f64()).sum(),
            embed_seconds: self.workers.iter().map(|w| w.embed.as_secs_f64()).sum(),
            threads: self.workers.len(),
        })
    }

    /// The outcome of the chain at `x` without a search (the one-pass predictor's answer): its
    /// similarity, the input's, which effects it uses and its parameters; 2 + (effects used)
    /// renders, no CMA-ES. Errors like [`Matcher::run`].
    pub fn evaluate_at(
        &mut self,
        segment_l: &[f32],
        segment_r: &[f32],
        sample_rate: u32,
        reference: &Embedding,
        x: &[f64],
    ) -> Result<MatchOutcome> {
        let start_time = Instant::now();
        let (seg_l, seg_r) = self.prepare(segment_l, segment_r, sample_rate)?;
        let n = self.workers[0].chain.num_free();
        if x.len() != n || !x.iter().all(|v| (0.0..=1.0).contains(v)) {
            return Err(Error::invalid(
                format!("a setting of {} values for {n} free parameters (each must lie in [0, 1])", x.len()),
                "give one normalised value per free parameter (`fxmatch chain show` lists them)",
            ));
        }
        let worker = &mut self.workers[0];
        let similarity_input = similarity(&worker.metric.embed(seg_l, seg_r, sample_rate)?, reference);
        let s = worker.evaluate(x, seg_l, seg_r, sample_rate, reference);
        let groups = effect_groups(&self.workers[0].chain).len();
        let (effects, params) = self.usage(x, &vec![false; groups], seg_l, seg_r);
        Ok(MatchOutcome {
            x: x.to_vec(),
            params,
            similarity: s,
            similarity_input,
            similarity_start: s,
            similarity_search: s,
            penalty: 0.0,
            history: Vec::new(),
            effects,
            evaluations: 0,
            selection_evaluations: 0,
            generations: 0,
            stop_reason: "predicted".into(),
            seconds: start_time.elapsed().as_secs_f64(),
            render_seconds: self.workers[0].render.as_secs_f64(),
            embed_seconds: self.workers[0].embed.as_secs_f64(),
            threads: 1,
        })
    }

    /// Prepares every worker's chain for `sample_rate` and the segment's length; the segment's
    /// two channels cut to the same length.
    fn prepare<'s>(
        &mut self,
        segment_l: &'s [f32],
        segment_r: &'s [f32],
        sample_rate: u32,
    ) -> Result<(&'s [f32], &'s [f32])> {
        check_sample_rate(sample_rate)?;
        let n = segment_l.len().min(segment_r.len());
        for w in &mut self.workers {
            if w.chain.sample_rate() != sample_rate as f32 {
                w.chain.prepare(sample_rate as f32, crate::render::OFFLINE_BLOCK);
            }
            crate::render::check_prepared(&w.chain)?;
            w.out_l.resize(n, 0.0);
            w.out_r.resize(n, 0.0);
            w.render = Duration::ZERO;
            w.embed = Duration::ZERO;
        }
        Ok((&segment_l[..n], &segment_r[..n]))
    }

    /// Which effects the result `x` uses (the audible change when each is set back to rest)
    /// and its parameters in plain units; `deselected` per effect group, as the selection left it.
    fn usage(
        &mut self,
        x: &[f64],
        deselected: &[bool],
        seg_l: &[f32],
        seg_r: &[f32],
    ) -> (Vec<EffectUse>, Vec<FoundParam>) {
        let groups = effect_groups(&self.workers[0].chain);
        let rest = self.workers[0].chain.start_point();
        let found = self.workers[0].render(x, seg_l, seg_r);
        let mut effects = Vec::with_capacity(groups.len());
        for (g, (id, members)) in groups.iter().enumerate() {
            let distance_db = if members.iter().all(|&i| x[i] == rest[i]) {
                0.0
            } else {
                let back = self.workers[0].render(&reset_group(x, members, &rest), seg_l, seg_r);
                log_spectral_distance((&found.0, &found.1), (&back.0, &back.1))
            };
            effects.push(EffectUse {
                effect: id.clone(),
                distance_db,
                used: distance_db > USED_DB,
                deselected: deselected[g],
            });
        }
        let params = self.workers[0]
            .chain
            .free_params()
            .iter()
            .zip(x)
            .map(|(p, &v)| FoundParam {
                effect: p.effect_id.clone(),
                param: p.param_id.clone(),
                value: p.range.to_plain(v),
                unit: p.unit.clone(),
                normalized: v,
            })
            .collect();
        (effects, params)
    }

    /// Similarities of all candidates, spread over the workers (one scoped thread each).
    fn evaluate_all(
        &mut self,
        candidates: &[Vec<f64>],
        l: &[f32],
        r: &[f32],
        rate: u32,
        reference: &Embedding,
    ) -> Vec<f32> {
        let mut scores = vec![f32::NAN; candidates.len()];
        if candidates.is_empty() {
            // The effect selection has nothing to try when the search ended at rest.
            return scores;
        }
        let per = candidates.len().div_ceil(self.workers.len());
        if self.workers.len() == 1 {
            for (x, s) in candidates.iter().zip(scores.iter_mut()) {
                *s = self.workers[0].evaluate(x, l, r, rate, reference);
            }
            return scores;
        }
        std::thread::scope(|scope| {
            for ((worker, xs), out) in
                self.workers.iter_mut().zip(candidates.chunks(per)).zip(scores.chunks_mut(per))
            {
                scope.spawn(move || {
                    for (x, s) in xs.iter().zip(out.iter_mut()) {
                        *s = worker.evaluate(x, l, r, rate, reference);
                    }
                });
            }
        });
        scores
    }
}

/// Start and length (frames) of the loudest window of `seconds` in `audio` (the whole input
/// when it is shorter): the part of a long input the search listens to.
pub fn loudest_window(audio: &AudioBuffer, seconds: f32) -> (usize, usize) {
    let frames = audio.frames();
    let len = ((seconds * audio.sample_rate as f32) as usize).min(frames);
    if len == frames {
        return (0, frames);
    }
    let hop = (audio.sample_rate as usize / 10).max(1);
    let energy: Vec<f64> =
        (0..frames).map(|i| audio.channels.iter().map(|c| (c[i] as f64).powi(2)).sum::<f64>()).collect();
    let mut prefix = vec![0.0; frames + 1];
    for i in 0..frames {
        prefix[i + 1] = prefix[i] + energy[i];
    }
    (0..=frames - len)
        .step_by(hop)
        .max_by(|&a, &b| (prefix[a + len] - prefix[a]).total_cmp(&(prefix[b + len] - prefix[b])))
        .map_or((0, len), |s| (s, len))
}

/// Problems with a match's input or reference: errors for what cannot be matched, warnings
/// (returned) for what can but may disappoint.
pub fn check_audio(audio: &AudioBuffer, role: &str) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    if audio.seconds() < 0.5 {
        return Err(Error::invalid(
            format!("the {role} lasts {:.3} s; a match needs at least 0.5 s", audio.seconds()),
            format!("record or choose a longer {role} (3 s or more works best)"),
        ));
    }
    if audio.peak() < 1e-4 {
        return Err(Error::invalid(
            format!("the {role} is silent (peak below -80 dBFS); there is no style to hear"),
            format!("check the {role} file or the input level"),
        ));
    }
    let total: usize = audio.channels.iter().map(Vec::len).sum();
    let clipped = audio.channels.iter().flatten().filter(|x| x.abs() >= 0.999).count();
    if clipped * 1000 > total {
        warnings.push(format!(
            "the {role} is clipped ({:.2} % of samples at full scale); the match still runs but the clipping is part of what it hears",
            100.0 * clipped as f64 / total as f64
        ));
    }
    Ok(warnings)
}
