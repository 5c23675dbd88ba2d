//! Training the predictor through the chain itself, as the second seed did: the chain is not
//! differentiable, so `training/predictor.py spsa` estimates the gradient of an audio loss with
//! respect to the predicted parameters by SPSA (two renders per example, at `θ ± εΔ` with a
//! random ±1 vector Δ). This module is the render side of that loop: [`SpsaServer`] replays a
//! predictor dataset's examples ([`super::dataset::draw_example`]), renders the input excerpt
//! through the chain at the settings the trainer sends, and answers an audio loss against the
//! oracle: the same input excerpt through the example's true setting (a chain dataset), or
//! through the example's sox chain (a projection dataset, [`super::projection`]: the predictor
//! then learns from the audio of processors the chain does not have, not only from the fitted
//! settings). The loss is the seed's ([`SpsaLoss::Seed`]), the projection fit's
//! ([`SpsaLoss::Fit`]) or the benchmark's judge ([`SpsaLoss::Judge`]). `fxmatch predictor
//! spsa-serve` speaks its line protocol on stdin/stdout ([`SpsaServer::serve`]). Offline only; nothing here runs on the audio thread.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use serde::Deserialize;

use super::dataset::{draw_example, Example, PredictDatasetConfig};
use super::param_names;
use super::projection::{draw_projection_example, FitConfig, ProjectionDatasetConfig, ProjectionExample};
use crate::audio::AudioBuffer;
use crate::chain::{Chain, ChainSpec};
use crate::dataset::content::{Content, Excerpt};
use crate::error::{Error, Result};
use crate::eval::fidelity::distance;
use crate::render::render_into;

/// FFT sizes of the multi-resolution STFT term (hop a quarter of each, Hann window).
pub const LOSS_FFT_SIZES: [usize; 3] = [512, 1024, 2048];

/// Weight of the time-domain L1 term, as in the seed (loss = MR-STFT + 100 × L1).
pub const LOSS_L1_WEIGHT: f64 = 100.0;

const LOG_EPS: f32 = 1e-7;

/// The seed's audio loss: a multi-resolution STFT loss (spectral convergence plus mean absolute
/// log-magnitude difference, averaged over [`LOSS_FFT_SIZES`]) plus [`LOSS_L1_WEIGHT`] × the
/// mean absolute sample difference, each averaged over the left and right channels.
pub struct AudioLoss {
    resolutions: Vec<Resolution>,
}

struct Resolution {
    size: usize,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    frame: Vec<f32>,
    spectrum_out: Vec<Complex<f32>>,
    spectrum_target: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
}

impl Default for AudioLoss {
    fn default() -> Self {
        Self::new()
    }
}

impl AudioLoss {
    /// Plans the FFTs (allocates; reuse one per thread).
    pub fn new() -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let resolutions = LOSS_FFT_SIZES
            .iter()
            .map(|&size| {
                let fft = planner.plan_fft_forward(size);
                let window = crate::audio::hann(size).into_iter().map(|w| w as f32).collect();
                Resolution {
                    size,
                    window,
                    frame: fft.make_input_vec(),
                    spectrum_out: fft.make_output_vec(),
                    spectrum_target: fft.make_output_vec(),
                    scratch: fft.make_scratch_vec(),
                    fft,
                }
            })
            .collect();
        AudioLoss { resolutions }
    }

    /// The loss of the stereo rendering `out` against `target` (equal lengths).
    pub fn stereo(&mut self, out: (&[f32], &[f32]), target: (&[f32], &[f32])) -> f64 {
        0.5 * (self.mono(out.0, target.0) + self.mono(out.1, target.1))
    }

    /// The loss of one channel.
    pub fn mono(&mut self, out: &[f32], target: &[f32]) -> f64 {
        assert_eq!(out.len(), target.len(), "the loss compares equal lengths");
        let n = out.len().max(1);
        let l1 = out.iter().zip(target).map(|(a, b)| (a - b).abs() as f64).sum::<f64>() / n as f64;
        let stft = self.resolutions.iter_mut().map(|r| r.loss(out, target)).sum::<f64>()
            / self.resolutions.len() as f64;
        stft + LOSS_L1_WEIGHT * l1
    }
}

/// One channel of a target prepared for [`AudioLoss::against`]: per resolution, per frame, the
/// target's magnitudes and log-magnitudes.
struct PreparedChannel {
    samples: Vec<f32>,
    /// Per resolution: (magnitudes, log-magnitudes, squared magnitudes summed), frame after frame.
    spectra: Vec<(Vec<f32>, Vec<f32>, f64)>,
}

/// A target whose spectra are computed once, for fits that score many outputs against one
/// target ([`AudioLoss::against`]).
pub struct PreparedTarget {
    channels: [PreparedChannel; 2],
    rms: f64,
    hop_divisor: usize,
}

impl PreparedTarget {
    /// RMS of the target over both channels.
    pub fn rms(&self) -> f64 {
        self.rms
    }

    /// Frames per channel.
    pub fn len(&self) -> usize {
        self.channels[0].samples.len()
    }

    /// Whether the target holds no frames.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// RMS over both channels.
pub(super) fn rms2(l: &[f32], r: &[f32]) -> f64 {
    let n = (l.len() + r.len()).max(1);
    (l.iter().chain(r).map(|&v| v as f64 * v as f64).sum::<f64>() / n as f64).sqrt()
}

impl AudioLoss {
    /// Computes `target`'s spectra once, for frames hopping by `1/hop_divisor` of each FFT size
    /// (the seed's loss: 4; a fit may trade overlap for speed with 2).
    pub fn prepare(&mut self, target: (&[f32], &[f32]), hop_divisor: usize) -> PreparedTarget {
        assert!(hop_divisor >= 1, "a hop divisor of at least 1");
        let channel = |this: &mut Self, x: &[f32]| PreparedChannel {
            samples: x.to_vec(),
            spectra: this
                .resolutions
                .iter_mut()
                .map(|r| {
                    let (mut mags, mut logs, mut power) = (Vec::new(), Vec::new(), 0.0f64);
                    r.frames(x, hop_divisor, |spectrum| {
                        for c in spectrum {
                            let m = c.norm();
                            power += (m as f64).powi(2);
                            mags.push(m);
                            logs.push((m + LOG_EPS).ln());
                        }
                    });
                    (mags, logs, power)
                })
                .collect(),
        };
        let channels = [channel(self, target.0), channel(self, target.1)];
        PreparedTarget { channels, rms: rms2(target.0, target.1), hop_divisor }
    }

    /// The loss of `out` scaled by `gain` against a prepared target: the same formula as
    /// [`Self::stereo`] (with the target's frame hop), computing only the output's spectra.
    pub fn against(&mut self, out: (&[f32], &[f32]), gain: f32, target: &PreparedTarget) -> f64 {
        self.against_weighted(out, gain, target, LOSS_L1_WEIGHT)
    }

    /// [`Self::against`] with the time-domain term weighted by `l1_weight` instead of
    /// [`LOSS_L1_WEIGHT`]. 0 gives a phase-blind loss: what fitting a chain to a reference made by
    /// other processors needs, whose phase responses (IIR oversampling, all-pass reverbs) no
    /// setting of the chain can reproduce sample for sample.
    pub fn against_weighted(
        &mut self,
        out: (&[f32], &[f32]),
        gain: f32,
        target: &PreparedTarget,
        l1_weight: f64,
    ) -> f64 {
        let mut total = 0.0;
        for (x, t) in [out.0, out.1].into_iter().zip(&target.channels) {
            assert_eq!(x.len(), t.samples.len(), "the loss compares equal lengths");
            let n = x.len().max(1);
            let l1 = if l1_weight == 0.0 {
                0.0
            } else {
                x.iter().zip(&t.samples).map(|(a, b)| (gain * a - b).abs() as f64).sum::<f64>() / n as f64
            };
            let mut stft = 0.0;
            for (r, (mags, logs, power)) in self.resolutions.iter_mut().zip(&t.spectra) {
                let (mut diff2, mut log_sum, mut k) = (0.0f64, 0.0f64, 0usize);
                r.frames(x, target.hop_divisor, |spectrum| {
                    for c in spectrum {
                        let m = gain * c.norm();
                        diff2 += ((mags[k] - m) as f64).powi(2);
                        log_sum += (logs[k] - (m + LOG_EPS).ln()).abs() as f64;
                        k += 1;
                    }
                });
                stft += diff2.sqrt() / power.sqrt().max(1e-9) + log_sum / k.max(1) as f64;
            }
            total += stft / self.resolutions.len() as f64 + l1_weight * l1;
        }
        0.5 * total
    }

    /// The gain that brings `out` to the target's RMS (1 for silence): the level-free variant
    /// of the loss passes it to [`Self::against`].
    pub fn level_gain(out: (&[f32], &[f32]), target: &PreparedTarget) -> f32 {
        let rms = rms2(out.0, out.1);
        if rms > 1e-9 && target.rms > 1e-9 {
            (target.rms / rms) as f32
        } else {
            1.0
        }
    }
}

impl Resolution {
    /// Calls `each` with the spectrum of every frame of `x`, hopping by `size / hop_divisor`.
    fn frames(&mut self, x: &[f32], hop_divisor: usize, mut each: impl FnMut(&[Complex<f32>])) {
        let hop = (self.size / hop_divisor).max(1);
        let mut start = 0;
        while start + self.size <= x.len().max(self.size) {
            for (k, f) in self.frame.iter_mut().enumerate() {
                *f = x.get(start + k).copied().unwrap_or(0.0) * self.window[k];
            }
            self.fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum_out, &mut self.scratch)
                .expect("buffers planned for this FFT");
            each(&self.spectrum_out);
            start += hop;
        }
    }

    /// Spectral convergence + mean |log |Y| − log |X||, over frames hopping by a quarter size.
    fn loss(&mut self, out: &[f32], target: &[f32]) -> f64 {
        let hop = self.size / 4;
        let (mut diff2, mut target2, mut log_sum, mut bins) = (0.0f64, 0.0f64, 0.0f64, 0usize);
        let mut start = 0;
        while start + self.size <= out.len().max(self.size) {
            for (signal, spectrum) in [(out, &mut self.spectrum_out), (target, &mut self.spectrum_target)] {
                for (k, f) in self.frame.iter_mut().enumerate() {
                    *f = signal.get(start + k).copied().unwrap_or(0.0) * self.window[k];
                }
                self.fft
                    .process_with_scratch(&mut self.frame, spectrum, &mut self.scratch)
                    .expect("buffers planned for this FFT");
            }
            for (x, y) in self.spectrum_out.iter().zip(&self.spectrum_target) {
                let (mx, my) = (x.norm(), y.norm());
                diff2 += ((my - mx) as f64).powi(2);
                target2 += (my as f64).powi(2);
                log_sum += ((my + LOG_EPS).ln() - (mx + LOG_EPS).ln()).abs() as f64;
                bins += 1;
            }
            start += hop;
        }
        diff2.sqrt() / target2.sqrt().max(1e-9) + log_sum / bins.max(1) as f64
    }
}

/// What `predict-dataset.json` says that the server needs.
#[derive(Deserialize)]
struct DatasetManifest {
    /// "projection" for [`super::projection`] datasets; absent for the chain's own.
    #[serde(default)]
    kind: Option<String>,
    chain: String,
    params: Vec<String>,
    n: usize,
    content_input: Vec<usize>,
    content_reference: Vec<usize>,
    config: serde_json::Value,
}

/// How a dataset's examples are replayed, and so what each oracle is.
enum Source {
    /// The chain's own examples: the oracle is the input through the chain at the true setting.
    Chain(PredictDatasetConfig),
    /// Projection examples: the oracle is the input through the example's sox chain.
    Projection(ProjectionDatasetConfig),
}

/// Example `i` as drawn from its dataset: what [`SpsaServer`] renders and what makes its oracle.
enum Drawn {
    Chain(Example),
    Projection(ProjectionExample),
}

impl Source {
    /// Replays example `i` (`chain`: the dataset's chain, for its parameter ranges).
    fn draw(&self, chain: &Chain, content: &Content, frames: usize, i: usize) -> Drawn {
        match self {
            Source::Chain(config) => Drawn::Chain(draw_example(chain, content, frames, config, i)),
            Source::Projection(config) => {
                Drawn::Projection(draw_projection_example(content, frames, config, i))
            }
        }
    }
}

impl Drawn {
    /// The input excerpt and the reference's excerpt.
    fn excerpts(&self) -> (&Excerpt, &Excerpt) {
        match self {
            Drawn::Chain(e) => (&e.input, &e.reference),
            Drawn::Projection(e) => (&e.input, &e.reference),
        }
    }

    /// The oracle of example `i` (left, right): the input through the chain at the true setting,
    /// or through the example's sox chain.
    fn oracle(&self, chain: &mut Chain, frames: usize, i: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        match self {
            Drawn::Chain(e) => {
                let mut t = (vec![0.0; frames], vec![0.0; frames]);
                chain.set_normalized(&e.setting);
                render_into(chain, &e.input.left, &e.input.right, &mut t.0, &mut t.1);
                Ok(t)
            }
            Drawn::Projection(e) => {
                let oracle = e.oracle(i)?;
                let (l, r) = oracle.stereo_slices();
                Ok((l.to_vec(), r.to_vec()))
            }
        }
    }
}

/// The loss the server answers.
#[derive(Debug, Clone)]
pub enum SpsaLoss {
    /// The seed's loss ([`AudioLoss::stereo`]: MR-STFT + 100 × L1, levels as rendered).
    Seed,
    /// The projection fit's loss ([`FitConfig::loss`]: level-aligned, by default phase-blind).
    /// The only one that makes sense against a sox oracle, whose phase no setting reproduces.
    Fit(FitConfig),
    /// The benchmark's own judge: the fidelity distance ([`crate::eval::fidelity::distance`],
    /// level-blind) of the output to the oracle over the input's, `d(out, o) / d(in, o)`, i.e.
    /// one minus `eval transfer`'s transfer gain, from [`JUDGE_SKIP_SECONDS`] on (both renders
    /// start from silence before). Answered for projection datasets too. The input's distance
    /// is floored at [`JUDGE_FLOOR_DB`]: an example whose oracle is its input (a dry reference,
    /// every effect off) would divide by zero, and one that barely moves it would dominate a
    /// batch.
    Judge,
}

/// Seconds at the start of an excerpt that [`SpsaLoss::Judge`] leaves out (as the fit's loss).
pub const JUDGE_SKIP_SECONDS: f32 = 0.5;
/// The least input-to-oracle distance [`SpsaLoss::Judge`] divides by, dB: about the smallest
/// that `eval transfer`'s cases have (3.0–25 dB on `--seed 0`).
pub const JUDGE_FLOOR_DB: f64 = 3.0;

/// Renders a predictor dataset's examples at requested settings and scores them against the
/// oracle (module docs).
pub struct SpsaServer {
    spec: ChainSpec,
    content: Content,
    source: Source,
    loss: SpsaLoss,
    n: usize,
    n_params: usize,
    frames: usize,
    workers: Vec<Mutex<Worker>>,
    /// The oracle of each example asked about so far (left, right).
    targets: Mutex<HashMap<usize, Arc<(Vec<f32>, Vec<f32>)>>>,
    /// [`SpsaLoss::Fit`]'s prepared targets of the examples in the current batch (a batch asks
    /// about each example twice, at `θ ± εΔ`; kept for one batch only, as they are large).
    prepared: Mutex<HashMap<usize, Arc<(PreparedTarget, usize)>>>,
    /// [`SpsaLoss::Judge`]'s `d(input, oracle)` of each example asked about so far (`None`: the
    /// excerpt is silent, so the judge has nothing to say and the loss is 0).
    input_distances: Mutex<HashMap<usize, Option<f64>>>,
}

struct Worker {
    chain: Chain,
    loss: AudioLoss,
    out: (Vec<f32>, Vec<f32>),
}

const SR: u32 = 48_000;

impl SpsaServer {
    /// Opens the dataset `dir` (written by `fxmatch predictor dataset` or `fxmatch predictor
    /// project` from `content` on the chain `spec`), with `threads` render workers, answering
    /// `loss` (a projection dataset always answers its own fit's loss). Errors if the dataset was
    /// made for another chain or from another content folder (its first examples do not replay).
    pub fn open(
        spec: &ChainSpec,
        content: Content,
        dir: &Path,
        threads: usize,
        loss: SpsaLoss,
    ) -> Result<Self> {
        let path = dir.join("predict-dataset.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::read(&path, e))?;
        let not_a_manifest = |e: serde_json::Error| {
            Error::config(
                &path,
                Some(e.line()),
                format!("not a predictor dataset manifest: {e}"),
                "make the dataset with `fxmatch predictor dataset` or `fxmatch predictor project`",
            )
        };
        let manifest: DatasetManifest = serde_json::from_str(&text).map_err(not_a_manifest)?;
        let chain = Chain::from_spec(spec)?;
        let names = param_names(&chain);
        if manifest.chain != spec.name || manifest.params != names {
            return Err(Error::config(
                &path,
                None,
                format!(
                    "made for chain `{}` with parameters [{}]; this chain `{}` has [{}]",
                    manifest.chain,
                    manifest.params.join(", "),
                    spec.name,
                    names.join(", ")
                ),
                "pass the chain the dataset was made with (--chain)",
            ));
        }
        let (source, loss, seconds) = match manifest.kind.as_deref() {
            Some("projection") => {
                let config: ProjectionDatasetConfig =
                    serde_json::from_value(manifest.config).map_err(not_a_manifest)?;
                let fit = config.fit.clone();
                let seconds = config.seconds;
                // A sox oracle's phase is out of any setting's reach: the seed's loss (with
                // its time-domain term) makes no sense against it; the judge is level- and
                // phase-blind like the fit's own loss.
                let loss = if matches!(loss, SpsaLoss::Judge) { loss } else { SpsaLoss::Fit(fit) };
                (Source::Projection(config), loss, seconds)
            }
            _ => {
                let config: PredictDatasetConfig =
                    serde_json::from_value(manifest.config).map_err(not_a_manifest)?;
                let seconds = config.seconds;
                (Source::Chain(config), loss, seconds)
            }
        };
        let frames = (seconds * SR as f32) as usize;
        for i in 0..manifest.n.min(8) {
            let drawn = source.draw(&chain, &content, frames, i);
            let (input, reference) = drawn.excerpts();
            if (input.content, reference.content)
                != (manifest.content_input[i], manifest.content_reference[i])
            {
                return Err(Error::config(
                    &path,
                    None,
                    format!("example {i} does not replay from this content folder"),
                    "pass the content folder the dataset was made from",
                ));
            }
        }
        let workers = (0..threads.max(1))
            .map(|_| {
                Ok(Mutex::new(Worker {
                    chain: crate::render::offline_chain(spec, SR as f32)?,
                    loss: AudioLoss::new(),
                    out: (vec![0.0; frames], vec![0.0; frames]),
                }))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SpsaServer {
            spec: spec.clone(),
            content,
            source,
            loss,
            n: manifest.n,
            n_params: names.len(),
            frames,
            workers,
            targets: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashMap::new()),
            input_distances: Mutex::new(HashMap::new()),
        })
    }

    /// The loss this server answers.
    pub fn loss(&self) -> &SpsaLoss {
        &self.loss
    }

    /// Examples in the dataset.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the dataset has no examples.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The audio loss of each request `(example, normalised setting)`, rendered in parallel.
    pub fn losses(&self, requests: &[(usize, Vec<f64>)]) -> Result<Vec<f64>> {
        for (i, setting) in requests {
            if *i >= self.n {
                return Err(Error::invalid(
                    format!("example {i} asked for; the dataset has {}", self.n),
                    "send example indices below the dataset's n",
                ));
            }
            if setting.len() != self.n_params || !setting.iter().all(|v| v.is_finite()) {
                return Err(Error::invalid(
                    format!(
                        "a setting of {} values (finite: {}); chain `{}` has {} free parameters",
                        setting.len(),
                        setting.iter().all(|v| v.is_finite()),
                        self.spec.name,
                        self.n_params
                    ),
                    "send one finite normalised value per free parameter",
                ));
            }
        }
        self.prepared.lock().expect("not poisoned").clear();
        let results: Vec<Mutex<Option<Result<f64>>>> = requests.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for worker in &self.workers {
                let (next, results) = (&next, &results);
                scope.spawn(move || {
                    let mut worker = worker.lock().expect("no worker panics holding it");
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some((i, setting)) = requests.get(k) else { return };
                        let loss = self.loss_of(&mut worker, *i, setting);
                        *results[k].lock().expect("not poisoned") = Some(loss);
                    }
                });
            }
        });
        results
            .into_iter()
            .map(|r| r.into_inner().expect("not poisoned").expect("every request done"))
            .collect()
    }

    fn loss_of(&self, worker: &mut Worker, i: usize, setting: &[f64]) -> Result<f64> {
        let drawn = self.source.draw(&worker.chain, &self.content, self.frames, i);
        let target = self.oracle(worker, &drawn, i)?;
        let input = drawn.excerpts().0;
        worker.chain.set_normalized(setting);
        let (out_l, out_r) = &mut worker.out;
        render_into(&mut worker.chain, &input.left, &input.right, out_l, out_r);
        let loss = match &self.loss {
            SpsaLoss::Seed => worker.loss.stereo((out_l, out_r), (&target.0, &target.1)),
            SpsaLoss::Fit(fit) => {
                let cached = self.prepared.lock().expect("not poisoned").get(&i).cloned();
                let prepared = match cached {
                    Some(p) => p,
                    None => {
                        let p = Arc::new(fit.prepare(&mut worker.loss, (&target.0, &target.1), SR));
                        self.prepared.lock().expect("not poisoned").insert(i, p.clone());
                        p
                    }
                };
                fit.loss(&mut worker.loss, (out_l, out_r), prepared.1, &prepared.0)
            }
            SpsaLoss::Judge => {
                let skip = ((JUDGE_SKIP_SECONDS * SR as f32) as usize).min(self.frames / 2);
                let clip =
                    |l: &[f32], r: &[f32]| AudioBuffer::stereo(SR, l[skip..].to_vec(), r[skip..].to_vec());
                let oracle = clip(&target.0, &target.1);
                let cached = self.input_distances.lock().expect("not poisoned").get(&i).copied();
                let input_distance = match cached {
                    Some(d) => d,
                    None => {
                        let d = match distance(&clip(&input.left, &input.right), &oracle) {
                            Ok(d) => Some(d.total.max(JUDGE_FLOOR_DB)),
                            // A silent excerpt (the only error two same-rate, same-length
                            // recordings can give): nothing to judge.
                            Err(_) => None,
                        };
                        self.input_distances.lock().expect("not poisoned").insert(i, d);
                        d
                    }
                };
                match input_distance {
                    None => 0.0,
                    Some(d_in) => {
                        distance(&clip(out_l, out_r), &oracle)
                            .map_err(|e| {
                                Error::invalid(format!("example {i}: {e}"), "check the chain's setting")
                            })?
                            .total
                            / d_in
                    }
                }
            }
        };
        if !loss.is_finite() {
            return Err(Error::invalid(
                format!("example {i}: the chain's output at this setting is not finite"),
                "check the chain's plugins (fxmatch render)",
            ));
        }
        Ok(loss)
    }

    /// Example `i`'s oracle, rendered on first use and kept.
    fn oracle(&self, worker: &mut Worker, drawn: &Drawn, i: usize) -> Result<Arc<(Vec<f32>, Vec<f32>)>> {
        if let Some(t) = self.targets.lock().expect("not poisoned").get(&i).cloned() {
            return Ok(t);
        }
        let t = Arc::new(drawn.oracle(&mut worker.chain, self.frames, i)?);
        self.targets.lock().expect("not poisoned").insert(i, t.clone());
        Ok(t)
    }

    /// The line protocol of `fxmatch predictor spsa-serve`. The server first writes `ready N P`
    /// (examples, free parameters). Each request line is `EXAMPLE V1 … VP`; a line `go` answers
    /// every request since the last `go`, one line each in order (the loss, or `error MESSAGE`
    /// for the whole batch when one is malformed). Ends at end of input.
    pub fn serve(&self, input: impl BufRead, mut output: impl Write) -> Result<()> {
        let io = |e: std::io::Error| Error::invalid(format!("spsa-serve: {e}"), "restart the trainer");
        writeln!(output, "ready {} {}", self.n, self.n_params).map_err(io)?;
        output.flush().map_err(io)?;
        let mut batch: Vec<(usize, Vec<f64>)> = Vec::new();
        let mut malformed: Option<String> = None;
        for line in input.lines() {
            let line = line.map_err(io)?;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if line == "go" {
                let answer = match malformed.take() {
                    Some(m) => Err(m),
                    None => self.losses(&batch).map_err(|e| e.to_string().replace('\n', " ")),
                };
                match answer {
                    Ok(losses) => {
                        for l in losses {
                            writeln!(output, "{l:.9e}").map_err(io)?;
                        }
                    }
                    Err(m) => {
                        for _ in 0..batch.len().max(1) {
                            writeln!(output, "error {m}").map_err(io)?;
                        }
                    }
                }
                output.flush().map_err(io)?;
                batch.clear();
                continue;
            }
            let mut fields = line.split_ascii_whitespace();
            let example = fields.next().and_then(|f| f.parse::<usize>().ok());
            let setting: std::result::Result<Vec<f64>, _> = fields.map(str::parse::<f64>).collect();
            match (example, setting) {
                (Some(i), Ok(s)) => batch.push((i, s)),
                _ => {
                    malformed.get_or_insert_with(|| format!("malformed request line `{line}`"));
                    batch.push((0, Vec::new()));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, n: usize) -> Vec<f32> {
        (0..n).map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / 48_000.0).sin()).collect()
    }

    #[test]
    fn a_prepared_target_gives_the_same_loss_and_aligns_level() {
        let mut loss = AudioLoss::new();
        let x = tone(440.0, 20_000);
        let y: Vec<f32> = tone(660.0, 20_000).iter().zip(&x).map(|(a, b)| 0.3 * a + 0.8 * b).collect();
        let direct = loss.stereo((&x, &y), (&y, &x));
        let prepared = loss.prepare((&y, &x), 4);
        let fast = loss.against((&x, &y), 1.0, &prepared);
        assert!((direct - fast).abs() < 1e-6 * direct, "{direct} vs {fast}");
        // A quieter copy of the target scores near zero once its level is aligned, not before.
        let quiet: Vec<f32> = y.iter().map(|v| v * 0.25).collect();
        let quiet_x: Vec<f32> = x.iter().map(|v| v * 0.25).collect();
        let g = AudioLoss::level_gain((&quiet, &quiet_x), &prepared);
        assert!((g - 4.0).abs() < 1e-3, "{g}");
        assert!(loss.against((&quiet, &quiet_x), g, &prepared) < 1e-3);
        assert!(loss.against((&quiet, &quiet_x), 1.0, &prepared) > 1.0);
    }

    #[test]
    fn the_loss_without_its_time_domain_term_is_blind_to_phase() {
        let mut loss = AudioLoss::new();
        let x = tone(440.0, 20_000);
        let inverted: Vec<f32> = x.iter().map(|v| -v).collect();
        let target = loss.prepare((&x, &x), 2);
        // A polarity flip leaves every magnitude spectrum as it was: only the L1 term sees it.
        assert!(loss.against_weighted((&inverted, &inverted), 1.0, &target, 0.0) < 1e-6);
        assert!(loss.against_weighted((&inverted, &inverted), 1.0, &target, LOSS_L1_WEIGHT) > 10.0);
        // A real spectral difference still counts without it.
        let other = tone(660.0, 20_000);
        assert!(loss.against_weighted((&other, &other), 1.0, &target, 0.0) > 1.0);
    }

    #[test]
    fn loss_is_zero_for_identical_audio_and_grows_with_difference() {
        let mut loss = AudioLoss::new();
        let x = tone(440.0, 24_000);
        assert!(loss.mono(&x, &x).abs() < 1e-9);
        let quieter: Vec<f32> = x.iter().map(|v| v * 0.9).collect();
        let much_quieter: Vec<f32> = x.iter().map(|v| v * 0.5).collect();
        let a = loss.mono(&quieter, &x);
        let b = loss.mono(&much_quieter, &x);
        assert!(a > 0.0 && b > a, "{a} {b}");
        // A 10 % gain error: L1 term 100 × 0.1 × mean|x| (mean |sin| × 0.5 = 1/π), log term ln(1/0.9).
        let l1 = 100.0 * 0.1 * 0.5 * 2.0 / std::f64::consts::PI;
        let log_term = (1.0f64 / 0.9).ln();
        assert!((a - (l1 + log_term + 0.1)).abs() < 0.05 * a, "{a} vs {}", l1 + log_term + 0.1);
        // Another pitch at the same level is far in the spectrum.
        let other = tone(660.0, 24_000);
        assert!(loss.mono(&other, &x) > a);
    }

    /// A content folder of one stereo tone file (`frames` long) in `dir`, and the eq-comp chain.
    fn tone_content(dir: &Path, frames: usize) -> (std::path::PathBuf, ChainSpec) {
        let content_dir = dir.join("content");
        std::fs::create_dir_all(&content_dir).unwrap();
        let audio = crate::audio::AudioBuffer::stereo(48_000, tone(220.0, frames), tone(330.0, frames));
        crate::audio::write_wav(content_dir.join("a.wav"), &audio, crate::audio::SampleFormat::F32).unwrap();
        let spec =
            ChainSpec::load(concat!(env!("CARGO_MANIFEST_DIR"), "/config/chains/eq-comp.toml")).unwrap();
        (content_dir, spec)
    }

    /// [`tone_content`] (`frames` long) and a chain dataset made from it with `config`; returns
    /// the content folder, the chain and the dataset folder.
    fn tone_dataset(
        dir: &Path,
        frames: usize,
        config: &PredictDatasetConfig,
    ) -> (std::path::PathBuf, ChainSpec, std::path::PathBuf) {
        let (content_dir, spec) = tone_content(dir, frames);
        let content = Content::load(&content_dir, 48_000).unwrap();
        let models = super::super::dataset::RowModels {
            vae: crate::metric::VaeModel::builtin().unwrap(),
            encoder: None,
        };
        let data = dir.join("data");
        super::super::dataset::build(&spec, &content, &models, config, &data, &|_| {}).unwrap();
        (content_dir, spec, data)
    }

    #[test]
    fn malformed_requests_answer_errors_and_the_server_goes_on() {
        // A real (tiny) dataset made here: two seconds of tones, three examples on eq-comp.
        let dir = tempfile::tempdir().unwrap();
        let config = PredictDatasetConfig {
            n: 3,
            seconds: 0.5,
            p_active: 1.0,
            same_content: 0.5,
            seed: 7,
            threads: 1,
            stats: true,
        };
        let (content_dir, spec, data) = tone_dataset(dir.path(), 96_000, &config);
        let content = Content::load(&content_dir, 48_000).unwrap();
        let server = SpsaServer::open(&spec, content.clone(), &data, 2, SpsaLoss::Seed).unwrap();
        let chain = Chain::from_spec(&spec).unwrap();
        let p = chain.free_params().len();
        // The example's own setting scores 0 (the render is deterministic); another does not.
        let truth = draw_example(&chain, &content, 24_000, &config, 1).setting;
        let other: Vec<f64> = truth.iter().map(|v| 1.0 - v).collect();
        let line = |i: usize, s: &[f64]| {
            format!("{i} {}\n", s.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" "))
        };
        let truth_2 = draw_example(&chain, &content, 24_000, &config, 2).setting;
        let input = format!("{}{}go\n1 0.5\ngo\n{}go\n", line(1, &truth), line(1, &other), line(2, &truth_2));
        let mut out = Vec::new();
        server.serve(input.as_bytes(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("ready 3 {p}"));
        let own: f64 = lines[1].parse().unwrap();
        let wrong: f64 = lines[2].parse().unwrap();
        assert!(own.abs() < 1e-9 && wrong > 0.1, "{own} {wrong}");
        assert!(lines[3].starts_with("error ") && lines[3].contains("free parameters"), "{}", lines[3]);
        let again: f64 = lines[4].parse().unwrap();
        assert!(again.abs() < 1e-9, "{again}");
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn the_judge_loss_is_one_minus_the_transfer_gain() {
        let dir = tempfile::tempdir().unwrap();
        let config = PredictDatasetConfig {
            n: 2,
            seconds: 1.5,
            p_active: 1.0,
            same_content: 0.5,
            seed: 5,
            threads: 1,
            stats: false,
        };
        let (content_dir, spec, data) = tone_dataset(dir.path(), 144_000, &config);
        let content = Content::load(&content_dir, 48_000).unwrap();
        let server = SpsaServer::open(&spec, content, &data, 1, SpsaLoss::Judge).unwrap();
        let mut chain = crate::render::offline_chain(&spec, SR as f32).unwrap();
        let frames = 72_000;
        let example = draw_example(&chain, &server.content, frames, &config, 0);
        let other: Vec<f64> = example.setting.iter().map(|v| 1.0 - v).collect();
        let losses = server.losses(&[(0, example.setting.clone()), (0, other.clone())]).unwrap();
        assert!(losses[0].abs() < 1e-9, "the true setting reaches the oracle: {}", losses[0]);
        // By hand: the eval's transfer gain of the other setting's output, from 0.5 s on.
        let mut render = |setting: &[f64]| {
            let mut out = (vec![0.0; frames], vec![0.0; frames]);
            chain.set_normalized(setting);
            render_into(&mut chain, &example.input.left, &example.input.right, &mut out.0, &mut out.1);
            AudioBuffer::stereo(SR, out.0[24_000..].to_vec(), out.1[24_000..].to_vec())
        };
        let (oracle, output) = (render(&example.setting), render(&other));
        let input = AudioBuffer::stereo(
            SR,
            example.input.left[24_000..].to_vec(),
            example.input.right[24_000..].to_vec(),
        );
        let gain = crate::eval::fidelity::transfer_gain(
            distance(&output, &oracle).unwrap().total,
            distance(&input, &oracle).unwrap().total.max(JUDGE_FLOOR_DB),
        );
        assert!(
            losses[1] > 0.05 && (losses[1] - (1.0 - gain)).abs() < 1e-9,
            "{} vs {}",
            losses[1],
            1.0 - gain
        );
    }

    /// A projection dataset replays: at the neutral setting the server answers exactly the
    /// fit's loss at neutral that `fxmatch predictor project` recorded for each example.
    #[test]
    fn a_projection_dataset_replays_its_sox_oracles() {
        replays(crate::eval::external::Processor::Sox);
    }

    /// The same with LV2 references (needs lv2file and the plugins `scripts/setup.sh` installs).
    #[test]
    fn a_projection_dataset_replays_its_lv2_oracles() {
        replays(crate::eval::external::Processor::Lv2file);
    }

    fn replays(processor: crate::eval::external::Processor) {
        let dir = tempfile::tempdir().unwrap();
        let (content_dir, spec) = tone_content(dir.path(), 144_000);
        let content = Content::load(&content_dir, 48_000).unwrap();
        let models = super::super::dataset::RowModels {
            vae: crate::metric::VaeModel::builtin().unwrap(),
            encoder: None,
        };
        let config = ProjectionDatasetConfig {
            n: 3,
            seconds: 1.0,
            same_content: 0.5,
            p_dry: 0.0,
            seed: 3,
            threads: 1,
            stats: false,
            fit: FitConfig { max_evaluations: 1, ..FitConfig::default() },
            min_rms: super::super::projection::MIN_EXCERPT_RMS,
            processor,
        };
        let data = dir.path().join("data");
        super::super::projection::build(&spec, &content, &models, &config, &data, &|_| {}).unwrap();
        // Asked for the judge, a projection dataset answers the judge.
        let judged = SpsaServer::open(&spec, content.clone(), &data, 1, SpsaLoss::Judge).unwrap();
        assert!(matches!(judged.loss(), SpsaLoss::Judge));
        // Asked for the seed's loss, it still answers its fit's.
        let server = SpsaServer::open(&spec, content, &data, 2, SpsaLoss::Seed).unwrap();
        assert!(matches!(server.loss(), SpsaLoss::Fit(_)));
        let neutral = Chain::from_spec(&spec).unwrap().start_point();
        let records: Vec<serde_json::Value> = std::fs::read_to_string(data.join("projection.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let requests: Vec<(usize, Vec<f64>)> = (0..3).map(|i| (i, neutral.clone())).collect();
        let losses = server.losses(&requests).unwrap();
        for (loss, record) in losses.iter().zip(&records) {
            let recorded = record["neutral_loss"].as_f64().unwrap();
            assert!((loss - recorded).abs() < 1e-6 * recorded.max(1.0), "{loss} vs {recorded}");
            assert!(*loss > 0.0, "a random chain changes the tone: {record}");
        }
    }
}
