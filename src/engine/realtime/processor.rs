//! [`AudioProcessor`]: the audio-thread side of the engine. It owns the running chain
//! ([`RtChain`]), writes the capture history, applies commands from the control side and runs
//! the chain. Built by `engine::build`; every method here is for the audio thread.
//!
//! `process` never allocates, frees, locks, blocks or panics (checked under `assert_no_alloc`
//! in the unit tests and, in debug builds, in the JACK callback).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::swap::{Crossfade, Glides};
use super::RtChain;
use crate::dsp::{DenormalGuard, Smoothed};
use crate::engine::capture::CaptureWriter;
use crate::engine::EngineStats;

/// Capacity of the command queue (control → audio).
pub(crate) const COMMAND_CAPACITY: usize = 4096;
/// Capacity of the return queue (audio → control) for replaced chains: also the most chain
/// swaps in flight at once (the control side never sends more than fit back).
pub(crate) const RETURN_CAPACITY: usize = 8;
/// Slot number meaning "the whole chain" in [`Command::Bypass`].
pub(crate) const WHOLE_CHAIN: u16 = u16::MAX;

/// What the control side asks of the audio thread. Nothing in here is dropped on the audio
/// thread: a [`Command::Swap`]'s chain is kept, and the chain it replaces is sent back.
pub(crate) enum Command {
    /// Glide a parameter to a new value (normalised in the parameter's full range) over the
    /// ramp time, in every live chain.
    SetParam { slot: u16, index: u16, normalized: f64 },
    /// Bypass an effect (or the whole chain: [`WHOLE_CHAIN`]).
    Bypass { slot: u16, bypass: bool },
    /// Crossfade to this chain (built and prepared off the audio thread).
    Swap(RtChain),
}

/// Counters shared between the audio thread and the control side.
#[derive(Default)]
pub(crate) struct SharedStats {
    pub blocks: AtomicU64,
    pub overruns: AtomicU64,
    pub xruns: AtomicU64,
    /// `f32` bits; non-negative floats order like their bits, so `fetch_max` works.
    pub peak_load: AtomicU32,
    /// Completed crossfades (for tests and status).
    pub swaps_done: AtomicU64,
    /// Time spent in callbacks, and the real time those callbacks covered, in ns, since the
    /// start or the last [`SharedStats::reset_load`]: their ratio is the mean load.
    pub busy_ns: AtomicU64,
    pub budget_ns: AtomicU64,
}

impl SharedStats {
    pub fn snapshot(&self) -> EngineStats {
        EngineStats {
            blocks: self.blocks.load(Ordering::Relaxed),
            overruns: self.overruns.load(Ordering::Relaxed),
            xruns: self.xruns.load(Ordering::Relaxed),
            peak_load: f32::from_bits(self.peak_load.load(Ordering::Relaxed)),
            mean_load: {
                let budget = self.budget_ns.load(Ordering::Relaxed);
                if budget == 0 {
                    0.0
                } else {
                    (self.busy_ns.load(Ordering::Relaxed) as f64 / budget as f64) as f32
                }
            },
        }
    }

    /// Start the load figures (peak and mean) afresh, e.g. to measure a stretch with a match
    /// running against one without.
    pub fn reset_load(&self) {
        self.peak_load.store(0, Ordering::Relaxed);
        self.busy_ns.store(0, Ordering::Relaxed);
        self.budget_ns.store(0, Ordering::Relaxed);
    }
}

/// The audio-thread side of an engine; move it into the audio callback. Built by
/// [`engine`](crate::engine::engine).
pub struct AudioProcessor {
    pub(in crate::engine) chain: RtChain,
    pub(in crate::engine) fade: Crossfade,
    pub(in crate::engine) glides: Glides,
    /// A replaced chain the return queue had no room for: kept here (a slot in this struct,
    /// nothing allocated) and sent back as soon as there is room, never dropped on this thread.
    pub(in crate::engine) retired: Option<RtChain>,
    pub(in crate::engine) commands: rtrb::Consumer<Command>,
    pub(in crate::engine) returns: rtrb::Producer<RtChain>,
    pub(in crate::engine) capture: CaptureWriter,
    pub(in crate::engine) stats: Arc<SharedStats>,
    /// 1 = chain output, 0 = dry input (whole-chain bypass).
    pub(in crate::engine) wet: Smoothed,
    pub(in crate::engine) max_block: usize,
    pub(in crate::engine) sample_rate: u32,
    pub(in crate::engine) mono_r: Vec<f32>,
}

impl AudioProcessor {
    /// The sample rate the chain was prepared for.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The largest block processed in one piece.
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// Process one callback of stereo audio: `out = chain(in)`. All four slices should have
    /// the same length (the shortest is used; the rest of the outputs is zeroed). Any length
    /// works; more than `max_block` frames are processed in pieces. Real-time safe.
    pub fn process(&mut self, in_l: &[f32], in_r: &[f32], out_l: &mut [f32], out_r: &mut [f32]) {
        let started = Instant::now();
        let _ftz = DenormalGuard::new();
        let n = in_l.len().min(in_r.len()).min(out_l.len()).min(out_r.len());
        self.capture.write(&in_l[..n], &in_r[..n]);
        self.drain_commands();
        let mut start = 0;
        while start < n {
            let end = (start + self.max_block).min(n);
            self.process_piece(
                &in_l[start..end],
                &in_r[start..end],
                &mut out_l[start..end],
                &mut out_r[start..end],
            );
            start = end;
        }
        out_l[n..].fill(0.0);
        out_r[n..].fill(0.0);
        self.account(n, started);
    }

    /// Process one callback of mono audio: the input feeds both sides of the chain and the
    /// output is the mean of its two outputs. Real-time safe.
    pub fn process_mono(&mut self, input: &[f32], output: &mut [f32]) {
        let started = Instant::now();
        let _ftz = DenormalGuard::new();
        let n = input.len().min(output.len());
        self.capture.write(&input[..n], &input[..n]);
        self.drain_commands();
        let mut start = 0;
        while start < n {
            let end = (start + self.max_block).min(n);
            let len = end - start;
            let mut r = std::mem::take(&mut self.mono_r);
            self.process_piece(
                &input[start..end],
                &input[start..end],
                &mut output[start..end],
                &mut r[..len],
            );
            for (o, r) in output[start..end].iter_mut().zip(&r[..len]) {
                *o = 0.5 * (*o + r);
            }
            self.mono_r = r;
            start = end;
        }
        output[n..].fill(0.0);
        self.account(n, started);
    }

    fn account(&mut self, frames: usize, started: Instant) {
        let s = &self.stats;
        s.blocks.fetch_add(1, Ordering::Relaxed);
        if frames == 0 {
            return;
        }
        let budget = frames as f64 / self.sample_rate as f64;
        let busy = started.elapsed().as_secs_f64();
        let load = (busy / budget) as f32;
        s.busy_ns.fetch_add((busy * 1e9) as u64, Ordering::Relaxed);
        s.budget_ns.fetch_add((budget * 1e9) as u64, Ordering::Relaxed);
        if load > 1.0 {
            s.overruns.fetch_add(1, Ordering::Relaxed);
        }
        s.peak_load.fetch_max(load.max(0.0).to_bits(), Ordering::Relaxed);
    }

    /// Where a replaced chain can go: the return queue's free places, plus the retired slot
    /// if empty.
    fn room_to_retire(&self) -> usize {
        self.returns.slots() + usize::from(self.retired.is_none())
    }

    /// Send a replaced chain back to the control side, or keep it in the retired slot when
    /// the queue is full (callers check [`AudioProcessor::room_to_retire`] first).
    fn retire(&mut self, chain: RtChain) {
        if let Err(rtrb::PushError::Full(chain)) = self.returns.push(chain) {
            debug_assert!(self.retired.is_none(), "room_to_retire checked by the caller");
            self.retired = Some(chain);
        }
    }

    /// Send the chain in the retired slot back, once the queue has room.
    fn flush_retired(&mut self) {
        if self.returns.slots() > 0 {
            if let Some(chain) = self.retired.take() {
                self.retire(chain);
            }
        }
    }

    fn drain_commands(&mut self) {
        self.flush_retired();
        loop {
            // A swap needs room to send a chain back; leave it queued until there is.
            if matches!(self.commands.peek(), Ok(Command::Swap(_))) && self.room_to_retire() < 2 {
                return;
            }
            let Ok(cmd) = self.commands.pop() else { return };
            match cmd {
                Command::SetParam { slot, index, normalized } => {
                    let (slot, index) = (slot as usize, index as usize);
                    self.glides.start(&self.chain, slot, index, normalized);
                    if self.glides.is_instant() {
                        if let Some(value) = self.glides.to_plain(slot, index, normalized) {
                            self.for_each_chain(|c| c.set_param(slot, index, value));
                        }
                    }
                }
                Command::Bypass { slot, bypass } => {
                    if slot == WHOLE_CHAIN {
                        self.wet.set_target(if bypass { 0.0 } else { 1.0 });
                    } else {
                        self.for_each_chain(|c| c.set_bypass(slot as usize, bypass));
                    }
                }
                Command::Swap(chain) => {
                    if let Some(replaced) = self.fade.push(chain) {
                        self.retire(replaced); // room checked above
                    }
                }
            }
        }
    }

    fn for_each_chain(&mut self, mut f: impl FnMut(&mut RtChain)) {
        f(&mut self.chain);
        self.fade.for_each_chain(&mut f);
    }

    fn process_piece(&mut self, in_l: &[f32], in_r: &[f32], out_l: &mut [f32], out_r: &mut [f32]) {
        let len = in_l.len();
        // Glides step once per piece; the effects interpolate linearly across the piece.
        let (chain, fade) = (&mut self.chain, &mut self.fade);
        let samples = len as u32;
        self.glides.advance(len, |slot, index, v| {
            chain.set_param_over(slot, index, v, samples);
            fade.for_each_chain(&mut |c: &mut RtChain| c.set_param_over(slot, index, v, samples));
        });
        out_l.copy_from_slice(in_l);
        out_r.copy_from_slice(in_r);
        self.chain.process(out_l, out_r);
        if self.fade.is_active() {
            let finished = self.fade.process(in_l, in_r, out_l, out_r);
            if finished && self.room_to_retire() > 0 {
                if let Some(new) = self.fade.take_finished() {
                    let old = std::mem::replace(&mut self.chain, new);
                    self.retire(old);
                    self.stats.swaps_done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if self.wet.is_smoothing() || self.wet.target() < 1.0 {
            crate::dsp::blend_dry(&mut self.wet, in_l, in_r, out_l, out_r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{Chain, ChainSpec};
    use crate::dsp::testutil;
    use crate::engine::{engine, AudioControl, EngineConfig};

    pub(crate) fn spec(name: &str) -> ChainSpec {
        ChainSpec::load(format!("{}/config/chains/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn run(p: &mut AudioProcessor, l: &[f32], r: &[f32], block: usize) -> (Vec<f32>, Vec<f32>) {
        let (mut ol, mut or) = (vec![0.0; l.len()], vec![0.0; l.len()]);
        for (((il, ir), bl), br) in
            l.chunks(block).zip(r.chunks(block)).zip(ol.chunks_mut(block)).zip(or.chunks_mut(block))
        {
            assert_no_alloc::assert_no_alloc(|| p.process(il, ir, bl, br));
        }
        (ol, or)
    }

    #[test]
    fn output_equals_the_chain_rendered_offline() {
        let spec = spec("default.toml");
        let (_h, mut p) = engine(&spec, &EngineConfig::default()).unwrap();
        let x = testutil::noise(20_000, 0.3, 1);
        let (ol, or) = run(&mut p, &x, &x, 333);
        let mut c = Chain::from_spec(&spec).unwrap();
        c.prepare(48_000.0, 4096);
        c.snap();
        let (mut l, mut r) = (x.clone(), x.clone());
        c.process(&mut l, &mut r);
        assert_eq!(ol, l);
        assert_eq!(or, r);
    }

    #[test]
    fn every_command_runs_allocation_free() {
        let spec = spec("default.toml");
        let (mut h, mut p) = engine(&spec, &EngineConfig::default()).unwrap();
        let x = testutil::noise(24_000, 0.3, 2);
        let n = h.normalized().len();
        run(&mut p, &x, &x, 128);
        h.apply_normalized(&vec![0.9; n]).unwrap();
        h.set_param("eq", "low_gain", 6.0).unwrap();
        h.set_bypass(Some("delay"), true).unwrap();
        h.set_bypass(None, true).unwrap();
        run(&mut p, &x, &x, 128);
        h.set_bypass(None, false).unwrap();
        h.apply_normalized_crossfade(&vec![0.1; n]).unwrap();
        h.apply_normalized_crossfade(&vec![0.2; n]).unwrap(); // arrives mid-fade: pending
        h.apply_normalized_crossfade(&vec![0.3; n]).unwrap(); // displaces the pending one
        assert_eq!(h.swaps_in_flight(), 3);
        run(&mut p, &x, &x, 128);
        run(&mut p, &x, &x, 4096 + 17); // longer than max_block: processed in pieces
                                        // Every chain replaced came back and was dropped here, off the audio thread.
        assert_eq!(h.swaps_in_flight(), 0);
        assert_eq!(h.swaps_done(), 2);
        let s = h.stats();
        assert!(s.blocks > 100 && s.peak_load > 0.0, "{s:?}");
        let m = h.normalized();
        assert!(m.iter().all(|v| (v - 0.3).abs() < 1e-4), "{m:?}");
        assert!((h.param("eq", "low_gain").unwrap() - (-15.0 + 0.3 * 30.0)).abs() < 1e-4);
    }

    #[test]
    fn mono_processes_the_mean_of_both_sides() {
        let spec = spec("eq-comp.toml");
        let cfg = EngineConfig { mono: true, ..EngineConfig::default() };
        let (h, mut p) = engine(&spec, &cfg).unwrap();
        let x = testutil::noise(4800, 0.3, 3);
        let mut out = vec![0.0; x.len()];
        assert_no_alloc::assert_no_alloc(|| p.process_mono(&x, &mut out));
        let mut c = Chain::from_spec(&spec).unwrap();
        c.prepare(48_000.0, 4096);
        c.snap();
        let (mut l, mut r) = (x.clone(), x.clone());
        c.process(&mut l, &mut r);
        for i in 0..x.len() {
            assert!((out[i] - 0.5 * (l[i] + r[i])).abs() < 1e-6);
        }
        assert_eq!(h.capture_reader().last_frames(4800).unwrap().0, x);
    }

    #[test]
    fn errors_name_the_cause_and_the_fix() {
        let (mut h, _p) = engine(&spec("default.toml"), &EngineConfig::default()).unwrap();
        for (r, want) in [
            (h.set_param("nope", "drive", 1.0), "no effect `nope`"),
            (h.set_param("distortion", "nope", 1.0), "no parameter `nope`"),
            (h.set_param("distortion", "drive", 1e6), "outside"),
            (h.apply_normalized(&[0.5]), "free parameters"),
            (h.set_bypass(Some("nope"), true), "no effect `nope`"),
        ] {
            let e = r.unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("fix"), "{e}");
        }
        // Nothing invalid reached the settings.
        assert_eq!(
            h.param("distortion", "drive").unwrap(),
            h.settings().params().values["distortion"]["drive"]
        );
    }

    #[test]
    fn a_retired_chain_the_queue_cannot_take_waits_in_its_slot() {
        let spec = spec("eq-comp.toml");
        let (_h, mut p) = engine(&spec, &EngineConfig::default()).unwrap();
        let chain = || {
            let mut c = Chain::from_spec(&spec).unwrap();
            c.prepare(48_000.0, 128);
            RtChain::new(Box::new(c))
        };
        let (tx, mut rx) = rtrb::RingBuffer::new(2);
        p.returns = tx;
        assert!(p.returns.push(chain()).is_ok() && p.returns.push(chain()).is_ok());
        assert_eq!(p.room_to_retire(), 1, "the queue is full; the slot is free");
        let extra = chain();
        assert_no_alloc::assert_no_alloc(|| p.retire(extra));
        assert!(p.retired.is_some(), "kept, not dropped on the audio thread");
        assert_eq!(p.room_to_retire(), 0);
        // While the queue stays full, the chain stays in its slot.
        let x = testutil::noise(256, 0.3, 4);
        run(&mut p, &x, &x, 128);
        assert!(p.retired.is_some());
        // Once the control side takes one back, the next callback sends the kept chain on.
        drop(rx.pop().unwrap());
        run(&mut p, &x, &x, 128);
        assert!(p.retired.is_none());
        assert_eq!(rx.slots(), 2);
    }
}
