//! The fidelity distance of `eval transfer` (`fxmatch::eval::fidelity`) between recordings of one
//! content, term by term: `cargo run --release --example fidelity_terms -- A.wav B.wav [B2.wav …]`
//! prints `d(A, B)` for each B (total = spectral + dynamics + width, dB). What it is for: seeing
//! how much of a processing the benchmark's judge can see at all (docs/experiments.md).

use fxmatch::audio::read_wav;
use fxmatch::eval::fidelity::distance;

fn main() -> anyhow::Result<()> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(paths.len() >= 2, "usage: fidelity_terms A.wav B.wav [B2.wav …]");
    let (a, _) = read_wav(&paths[0])?;
    println!("| B | total | spectral | dynamics | width |");
    println!("|---|---|---|---|---|");
    for path in &paths[1..] {
        let d = distance(&a, &read_wav(path)?.0)?;
        println!("| {path} | {:.2} | {:.2} | {:.2} | {:.2} |", d.total, d.spectral, d.dynamics, d.width);
    }
    Ok(())
}
