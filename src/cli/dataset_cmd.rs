//! `fxmatch dataset`: the encoder's training pairs (see `fxmatch::dataset`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Result;
use clap::Args;

use fxmatch::dataset::pairs::PairConfig;
use fxmatch::dataset::presets::PresetConfig;
use fxmatch::dataset::{build_dataset, parallel, DatasetConfig, Progress, DEFAULT_EFFECTS};

/// Write pretext-task training pairs (x, f(x)) with fxmatch's own effects, for training the style
/// encoder (training/README.md).
///
/// First makes presets per effect by clustering random settings (presets.json), then renders
/// random content excerpts through one random effect and preset each, as float16 shards with
/// JSON labels. Deterministic from the seeds; an interrupted run resumes where it stopped.
/// Keep the bundled evaluation clips (assets/audio) out of CONTENT.
#[derive(Args)]
pub struct DatasetArgs {
    /// Folder of training content: every .wav under it (48 kHz, mono or stereo).
    content: PathBuf,
    /// Output folder (created; an existing one with the same settings is resumed).
    out: PathBuf,
    /// Number of pairs.
    #[arg(long, default_value_t = 10_000)]
    pairs: usize,
    /// Excerpt length in seconds.
    #[arg(long, default_value_t = 3.0)]
    seconds: f32,
    /// Pairs per shard file.
    #[arg(long, default_value_t = 256)]
    shard_size: usize,
    /// Effects (class order), comma-separated built-in types.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_EFFECTS.iter().map(|s| s.to_string()))]
    effects: Vec<String>,
    /// Random settings per effect clustered into presets (ST-ITO: 1000).
    #[arg(long, default_value_t = 1000)]
    settings: usize,
    /// Presets per effect (k-means clusters).
    #[arg(long, default_value_t = 10)]
    presets: usize,
    /// Seed of presets and pairs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Input gain range: excerpts are scaled by a gain uniform in [-GAIN_RANGE, 0] dB.
    #[arg(long, default_value_t = 12.0)]
    gain_range: f32,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

const SAMPLE_RATE: u32 = 48_000;

/// A progress bar per stage on a terminal; one line per stage otherwise.
struct Bars {
    bar: Mutex<Option<indicatif::ProgressBar>>,
    tty: bool,
}

impl Progress for Bars {
    fn start(&self, stage: &str, total: u64) {
        let mut bar = self.bar.lock().expect("lock");
        if let Some(b) = bar.take() {
            b.finish();
        }
        if self.tty {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{stage:>8} {{bar:30}} {{pos}}/{{len}} [{{elapsed}} < {{eta}}]"
                ))
                .expect("valid template"),
            );
            *bar = Some(b);
        } else {
            eprintln!("{stage}: {total} items");
        }
    }

    fn tick(&self) {
        if let Some(b) = self.bar.lock().expect("lock").as_ref() {
            b.inc(1);
        }
    }
}

pub fn run(args: DatasetArgs) -> Result<()> {
    if !(0.1..=60.0).contains(&args.seconds) || args.pairs == 0 || args.shard_size == 0 {
        anyhow::bail!(
            "--seconds must be 0.1..60 and --pairs, --shard-size at least 1\n  fix: e.g. --seconds 3 --pairs 10000"
        );
    }
    let config = DatasetConfig {
        sample_rate: SAMPLE_RATE,
        presets: PresetConfig {
            effects: args.effects.clone(),
            n_settings: args.settings,
            k: args.presets,
            seed: args.seed,
            sample_rate: SAMPLE_RATE,
        },
        pairs: PairConfig {
            seed: args.seed.wrapping_add(1),
            n_pairs: args.pairs,
            shard_size: args.shard_size,
            frames: (args.seconds * SAMPLE_RATE as f32).round() as usize,
            preroll: SAMPLE_RATE as usize / 2,
            gain_range_db: args.gain_range,
            min_rms_db: -50.0,
        },
    };
    let bars = Bars { bar: Mutex::new(None), tty: std::io::stderr().is_terminal() };
    let start = std::time::Instant::now();
    let m = build_dataset(&args.content, &args.out, &config, parallel::threads(args.threads), &bars)?;
    if let Some(b) = bars.bar.lock().expect("lock").take() {
        b.finish();
    }
    eprintln!(
        "wrote {} pairs ({} shards, effects {}) from {} content files ({:.0} s) into {} in {:.1} s",
        args.pairs,
        m.shards.len(),
        m.effects.join(", "),
        m.content_files,
        m.content_seconds,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
