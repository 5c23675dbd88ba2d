//! What does each candidate predictor input know about a reference's processing?
//!
//! Replays a predictor dataset (`fxmatch predictor dataset` or `predictor project`) and writes,
//! per example, the style encoder's embedding and the hand-made style statistics of the input
//! and of the reference, so that a probe (a linear read-out on held-out content) can compare
//! them with the VAE latents the rows already hold (docs/experiments.md, issue 18/19).
//!
//! ```text
//! cargo run --release --example probe_features -- CONTENT_DIR DATASET_DIR OUT_DIR [--threads T] [--n N] [--model ENCODER.onnx]
//! ```
//! Writes `OUT_DIR/encoder.f32` (`[e_in.mid, e_in.side, e_ref.mid, e_ref.side]` per row) and
//! `OUT_DIR/stats.f32` (`[stats_in, stats_ref]`), little-endian f32, in the dataset's row order.

use std::path::PathBuf;

use fxmatch::chain::{Chain, ChainSpec};
use fxmatch::dataset::content::Content;
use fxmatch::dataset::parallel::par_map;
use fxmatch::metric::{Encoder, StyleMetric};
use fxmatch::predict::dataset::{draw_example, PredictDatasetConfig};
use fxmatch::predict::features::style_stats;
use fxmatch::predict::projection::{draw_projection_example, ProjectionDatasetConfig};
use fxmatch::render::{offline_chain, render_into};

const SR: u32 = 48_000;

enum Kind {
    Chain(PredictDatasetConfig, ChainSpec),
    Projection(ProjectionDatasetConfig),
}

fn main() -> fxmatch::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag =
        |name: &str| args.iter().position(|a| a == name).map(|i| args[i + 1].parse::<usize>().expect(name));
    let (content_dir, data, out) =
        (PathBuf::from(&args[0]), PathBuf::from(&args[1]), PathBuf::from(&args[2]));
    let threads = flag("--threads").unwrap_or(2);
    let model = args.iter().position(|a| a == "--model").map(|i| PathBuf::from(&args[i + 1]));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("predict-dataset.json")).expect("manifest"))
            .expect("json");
    let kind = if manifest["kind"] == "projection" {
        Kind::Projection(serde_json::from_value(manifest["config"].clone()).expect("config"))
    } else {
        let chain = format!("config/chains/{}.toml", manifest["chain"].as_str().expect("chain"));
        Kind::Chain(
            serde_json::from_value(manifest["config"].clone()).expect("config"),
            ChainSpec::load(&chain)?,
        )
    };
    let seconds = manifest["config"]["seconds"].as_f64().expect("seconds");
    let frames = (seconds * SR as f64) as usize;
    let n = flag("--n").unwrap_or(manifest["n"].as_u64().expect("n") as usize);
    let content = Content::load(&content_dir, SR)?;
    let rows = par_map(
        n,
        threads,
        || {
            let chain = match &kind {
                Kind::Chain(_, spec) => Some(offline_chain(spec, SR as f32)?),
                Kind::Projection(_) => None,
            };
            let encoder = match &model {
                Some(path) => Encoder::load(path)?,
                None => Encoder::builtin()?,
            };
            Ok((encoder, chain))
        },
        |(encoder, chain): &mut (Encoder, Option<Chain>), i| {
            let (input, reference) = match &kind {
                Kind::Projection(config) => {
                    let drawn = draw_projection_example(&content, frames, config, i);
                    let r = drawn.through_recipe(&drawn.reference, i)?;
                    let (l, rr) = r.stereo_slices();
                    ((drawn.input.left, drawn.input.right), (l.to_vec(), rr.to_vec()))
                }
                Kind::Chain(config, _) => {
                    let chain = chain.as_mut().expect("chain");
                    let ex = draw_example(chain, &content, frames, config, i);
                    chain.set_normalized(&ex.setting);
                    let (mut l, mut r) = (vec![0.0; frames], vec![0.0; frames]);
                    render_into(chain, &ex.reference.left, &ex.reference.right, &mut l, &mut r);
                    ((ex.input.left, ex.input.right), (l, r))
                }
            };
            let mut enc = Vec::new();
            let mut stats = Vec::new();
            for (l, r) in [&input, &reference] {
                let e = encoder.embed(l, r, SR)?;
                enc.extend(e.mid);
                enc.extend(e.side);
                stats.extend(style_stats(l, r, SR));
            }
            Ok((enc, stats))
        },
        &|| {},
    )?;
    std::fs::create_dir_all(&out).expect("out dir");
    for (name, pick) in [("encoder.f32", 0), ("stats.f32", 1)] {
        let mut bytes = Vec::new();
        for row in &rows {
            for v in if pick == 0 { &row.0 } else { &row.1 } {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        std::fs::write(out.join(name), bytes).expect("write");
    }
    eprintln!("{} rows -> {}", rows.len(), out.display());
    Ok(())
}
