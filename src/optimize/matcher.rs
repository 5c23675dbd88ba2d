//! The match: search a chain's free parameters so that the rendered segment has the reference's
//! production style, as scored by a [`StyleMetric`] (ST-ITO's inference-time optimisation).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cmaes::{Cmaes, CmaesConfig, EarlyStop};
use crate::audio::AudioBuffer;
use crate::chain::{Chain, ChainSpec};
use crate::error::{Error, Result};
use crate::metric::{similarity, Embedding, StyleMetric};
use crate::render::{check_sample_rate, render_into};

/// Settings of a match. Defaults follow ST-ITO: population 64, at most 25 generations,
/// σ 0.3, start at 0.5, stop after 10 generations without an improvement of 0.01.
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
    /// Start point of every free parameter, normalised.
    pub start: f64,
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
            start: 0.5,
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
        if !(self.sigma0 > 0.0 && self.sigma0 <= 1.0) || !(0.0..=1.0).contains(&self.start) {
            return Err(Error::invalid(
                "sigma0 must lie in (0, 1] and start in [0, 1]",
                "ST-ITO uses sigma 0.3, start 0.5",
            ));
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
    /// Similarity at the start point (every free parameter at `start`).
    pub similarity_start: f32,
    /// Best similarity after each generation.
    pub history: Vec<f32>,
    /// Candidates evaluated (renders and embeddings).
    pub evaluations: usize,
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

    /// The settings.
    pub fn config(&self) -> &MatchConfig {
        &self.config
    }

    /// Search. `segment_*` is the (already cropped) input, `reference` the reference's embedding
    /// under the same metric. Stops at the budget, by early stopping, or when `abort` is set
    /// (checked between generations); always returns the best found so far.
    pub fn run(
        &mut self,
        segment_l: &[f32],
        segment_r: &[f32],
        sample_rate: u32,
        reference: &Embedding,
        abort: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<MatchOutcome> {
        check_sample_rate(sample_rate)?;
        let start_time = Instant::now();
        let n = segment_l.len().min(segment_r.len());
        let (seg_l, seg_r) = (&segment_l[..n], &segment_r[..n]);
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
        let dim = self.workers[0].chain.num_free();
        let c = &self.config;
        let input_embedding = self.workers[0].metric.embed(seg_l, seg_r, sample_rate)?;
        let similarity_input = similarity(&input_embedding, reference);
        let x0 = vec![c.start; dim];
        let similarity_start = self.workers[0].evaluate(&x0, seg_l, seg_r, sample_rate, reference);

        let mut max_evals = (c.population * c.max_generations) as u64;
        if let Some(b) = c.budget {
            max_evals = max_evals.min(b as u64);
        }
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
        let mut best_x = x0;
        let mut best_s = similarity_start;
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
            for (x, &s) in candidates.iter().zip(&scores) {
                if s > best_s {
                    best_s = s;
                    best_x.clone_from(x);
                }
            }
            let fitness: Vec<f64> =
                scores.iter().map(|&s| if s.is_finite() { -(s as f64) } else { f64::NAN }).collect();
            cma.tell(&fitness)?;
            history.push(best_s);
            progress(&Progress {
                generation: cma.generation() as usize,
                max_generations,
                evaluations: cma.evaluations() as usize + 1,
                best_similarity: best_s,
            });
        }
        let chain = &self.workers[0].chain;
        let params = chain
            .free_params()
            .iter()
            .zip(&best_x)
            .map(|(p, &x)| FoundParam {
                effect: p.effect_id.clone(),
                param: p.param_id.clone(),
                value: p.range.to_plain(x),
                unit: p.unit.clone(),
                normalized: x,
            })
            .collect();
        Ok(MatchOutcome {
            x: best_x,
            params,
            similarity: best_s,
            similarity_input,
            similarity_start,
            history,
            evaluations: cma.evaluations() as usize + 1,
            generations: cma.generation() as usize,
            stop_reason: stop.unwrap_or_default(),
            seconds: start_time.elapsed().as_secs_f64(),
            render_seconds: self.workers.iter().map(|w| w.render.as_secs_f64()).sum(),
            embed_seconds: self.workers.iter().map(|w| w.embed.as_secs_f64()).sum(),
            threads: self.workers.len(),
        })
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
