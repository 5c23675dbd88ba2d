//! [`OfflineEngine`]: an engine driven by its own clock instead of a sound card. A thread feeds
//! blocks of a given input (looped) through the same [`AudioProcessor`] as the JACK backend,
//! paced by the wall clock or as fast as possible, and collects the output. For tests, and for
//! the demo when no JACK server is wanted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{engine, AudioControl, AudioProcessor, EngineConfig, EngineHandle, EngineStats, MidiEvent};
use crate::audio::AudioBuffer;
use crate::chain::ChainSpec;
use crate::error::{Error, Result};

/// How the offline clock advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// One block per block duration of wall-clock time, like a sound card.
    RealTime,
    /// Blocks back to back, as fast as the chain runs (waits only when the output is not read).
    Fast,
}

/// Settings of an offline run.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineOptions {
    /// Frames per callback (default 128).
    pub block: usize,
    /// Clock.
    pub pacing: Pacing,
    /// Stop after this many frames (`None`: run until stopped).
    pub max_frames: Option<u64>,
    /// How much output to keep for [`OfflineEngine::take_output`], in seconds (default 60);
    /// beyond it the oldest is lost in real-time pacing and the clock waits in fast pacing.
    pub record_seconds: f32,
}

impl Default for OfflineOptions {
    fn default() -> Self {
        Self { block: 128, pacing: Pacing::RealTime, max_frames: None, record_seconds: 60.0 }
    }
}

/// An engine on the offline clock (see the module notes). Stops its thread on drop.
pub struct OfflineEngine {
    handle: EngineHandle,
    output: rtrb::Consumer<[f32; 2]>,
    stop: Arc<AtomicBool>,
    frames: Arc<AtomicU64>,
    thread: Option<JoinHandle<AudioProcessor>>,
}

impl OfflineEngine {
    /// Start the clock on `input` (mono or stereo, looped; its sample rate is the engine's,
    /// unless `config.sample_rate` says otherwise, which is then an error).
    pub fn start(
        spec: &ChainSpec,
        config: &EngineConfig,
        input: AudioBuffer,
        options: OfflineOptions,
    ) -> Result<Self> {
        if input.frames() == 0 || input.num_channels() == 0 {
            return Err(Error::invalid(
                "the offline engine's input is empty",
                "give it at least one frame of audio",
            ));
        }
        if let Some(rate) = config.sample_rate {
            if rate != input.sample_rate {
                return Err(super::build::rate_mismatch(rate, input.sample_rate));
            }
        }
        if options.block == 0 {
            return Err(Error::invalid("offline block size 0", "use a block of 1 frame or more (e.g. 128)"));
        }
        let config = EngineConfig { sample_rate: Some(input.sample_rate), ..config.clone() };
        let (handle, mut processor) = engine(spec, &config)?;
        let record =
            ((options.record_seconds.max(0.0) as f64 * input.sample_rate as f64) as usize).max(options.block);
        let (mut out_tx, mut out_rx) = rtrb::RingBuffer::<[f32; 2]>::new(record);
        // Touch every page of the recording ring now: otherwise the clock thread page-faults its
        // way through it (and resident memory creeps up) during the first `record_seconds`.
        while out_tx.push([0.0; 2]).is_ok() {}
        if let Ok(chunk) = out_rx.read_chunk(out_rx.slots()) {
            chunk.commit_all();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(AtomicU64::new(0));
        let (stop2, frames2) = (stop.clone(), frames.clone());
        let (in_l, in_r) = input.to_stereo();
        let sr = input.sample_rate as f64;
        let thread = std::thread::Builder::new()
            .name("fxmatch-offline".into())
            .spawn(move || {
                let block = options.block;
                let (mut bl, mut br) = (vec![0.0f32; block], vec![0.0f32; block]);
                let (mut ol, mut or) = (vec![0.0f32; block], vec![0.0f32; block]);
                let mut pos = 0usize;
                let mut done: u64 = 0;
                let start = Instant::now();
                while !stop2.load(Ordering::Relaxed) {
                    let n = match options.max_frames {
                        Some(max) if done >= max => break,
                        Some(max) => block.min((max - done) as usize),
                        None => block,
                    };
                    if options.pacing == Pacing::Fast {
                        while out_tx.slots() < n && !stop2.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    for i in 0..n {
                        bl[i] = in_l[pos];
                        br[i] = in_r[pos];
                        pos = if pos + 1 == in_l.len() { 0 } else { pos + 1 };
                    }
                    processor.process(&bl[..n], &br[..n], &mut ol[..n], &mut or[..n]);
                    for i in 0..n {
                        let _ = out_tx.push([ol[i], or[i]]);
                    }
                    done += n as u64;
                    frames2.store(done, Ordering::Release);
                    if options.pacing == Pacing::RealTime {
                        let due = start + Duration::from_secs_f64(done as f64 / sr);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                    }
                }
                processor
            })
            .map_err(|e| {
                Error::invalid(
                    format!("cannot start the offline audio thread: {e}"),
                    "free some memory or threads and retry",
                )
            })?;
        Ok(Self { handle, output: out_rx, stop, frames, thread: Some(thread) })
    }

    /// The control side (for what [`AudioControl`] does not cover).
    pub fn handle(&mut self) -> &mut EngineHandle {
        &mut self.handle
    }

    /// Frames processed so far.
    pub fn frames_processed(&self) -> u64 {
        self.frames.load(Ordering::Acquire)
    }

    /// Block until at least `frames` have been processed (or the run ended), up to `timeout`.
    /// Returns whether the count was reached.
    pub fn wait_frames(&self, frames: u64, timeout: Duration) -> bool {
        let start = Instant::now();
        while self.frames_processed() < frames {
            if start.elapsed() > timeout || self.thread.as_ref().is_none_or(|t| t.is_finished()) {
                return self.frames_processed() >= frames;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// The output produced since the last call (stereo).
    pub fn take_output(&mut self) -> AudioBuffer {
        let n = self.output.slots();
        let (mut l, mut r) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            if let Ok([a, b]) = self.output.pop() {
                l.push(a);
                r.push(b);
            }
        }
        AudioBuffer::stereo(self.handle.sample_rate(), l, r)
    }

    /// Stop the clock and wait for its thread; returns the processor (e.g. to run it by hand).
    pub fn stop(&mut self) -> Option<AudioProcessor> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for OfflineEngine {
    fn drop(&mut self) {
        self.stop();
    }
}

impl AudioControl for OfflineEngine {
    forward_audio_control_to_handle!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Chain;
    use crate::dsp::testutil;

    #[test]
    fn fast_clock_renders_the_chain_and_captures_the_input() {
        let spec =
            ChainSpec::load(format!("{}/config/chains/eq-comp.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let x = testutil::noise(10_000, 0.3, 5);
        let input = AudioBuffer::stereo(48_000, x.clone(), x.clone());
        let opts =
            OfflineOptions { pacing: Pacing::Fast, max_frames: Some(20_000), ..OfflineOptions::default() };
        let mut e = OfflineEngine::start(&spec, &EngineConfig::default(), input, opts).unwrap();
        assert!(e.wait_frames(20_000, Duration::from_secs(10)));
        let out = e.take_output();
        assert_eq!(out.frames(), 20_000);
        // The input loops: the render of it twice in a row.
        let mut c = Chain::from_spec(&spec).unwrap();
        c.prepare(48_000.0, 4096);
        c.snap();
        let mut l: Vec<f32> = x.iter().chain(&x).copied().collect();
        let mut r = l.clone();
        c.process(&mut l, &mut r);
        assert!(out.channels[0].iter().zip(&l).all(|(a, b)| (a - b).abs() < 1e-5));
        assert_eq!(e.capture_last(10_000.0 / 48_000.0).unwrap().channels[0], x);
        assert!(e.stats().blocks >= 20_000 / 128);
        let n = e.normalized().len();
        e.apply_normalized(&vec![0.7; n]).unwrap();
        assert!((e.normalized()[0] - 0.7).abs() < 1e-6);
        e.stop();
    }
}
