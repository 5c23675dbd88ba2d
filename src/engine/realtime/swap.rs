//! Click-free hot-swaps on the audio thread (the control side only builds the chains).
//!
//! Two ways to move the running chain to new values:
//! - **Glide** (the default): each changed parameter moves from its current value to the new one
//!   along an S-curve (smoothstep) in its normalised range (so frequencies glide in octaves),
//!   stepped once per block. The EQ, compressor and gain interpolate linearly across each block
//!   (`Effect::set_param_over`), so their parameters follow the S-curve itself: its motion starts
//!   and stops gently, and the EQ's coefficients move every sample: coarser coefficient steps, or
//!   the effects' own 20 ms ramps trailing the glide and then stopping dead, leave audible ticks
//!   on large moves (figures in `docs/experiments.md`). Effects with
//!   only their own ramps (distortion, delay, reverb, LV2 plugins: 20 ms; reverb size and damping
//!   50 ms) smooth between the steps. The glide lasts `ramp_ms − 20 ms`, so every move ends within
//!   about `ramp_ms` (default 50 ms); with `ramp_ms ≤ 20` only the effects' own ramps remain.
//! - **Crossfade**, where a parameter cannot glide without artefacts (a [`ParamSpec`] with
//!   `needs_crossfade`, e.g. discrete modes), or when asked for: the control side builds and
//!   prepares a second [`Chain`] at the new values, sends it in as a `Box`, and the audio thread
//!   first runs the new chain muted on the live input (faded in over 10 ms, so its delay lines
//!   hold a smooth onset, not a step that would echo as a click) for `crossfade_warmup_ms` (default 200 ms:
//!   its delay lines fill and its compressor's detector settles on the same input, so it does not
//!   fade in with an empty-state onset), then crossfades old → new **linearly** over
//!   `crossfade_ms` (default 50 ms). Linear,
//!   not equal-power, because the two chains process the same input and their outputs are
//!   mostly correlated (dry paths, similar settings): a linear fade keeps the level of
//!   correlated signals constant, where equal-power would bump it by up to 3 dB mid-fade. The
//!   new chain starts with empty delay lines and reverb tails, so the old tail fades out while
//!   the new one builds up. The old chain goes back to the control side through a return queue
//!   and is dropped there, never on the audio thread (fundsp's `Net::backend()` model).
//!
//! [`ParamSpec`]: crate::effect::ParamSpec

use super::RtChain;
use crate::chain::Chain;
use crate::effect::{Mapping, ParamRange};

/// The effects' own parameter ramp ([`crate::effect::PARAM_RAMP_SECONDS`]), in ms.
pub const EFFECT_RAMP_MS: f32 = crate::effect::PARAM_RAMP_SECONDS * 1000.0;

/// Fade-in of a crossfade chain's input, in ms.
const INPUT_FADE_MS: f32 = 10.0;

/// Glide length for a configured total ramp time.
pub(crate) fn glide_ms(ramp_ms: f32) -> f32 {
    (ramp_ms - EFFECT_RAMP_MS).max(0.0)
}

/// A crossfade between the running chain and an incoming one (audio-thread state).
pub(crate) struct Crossfade {
    incoming: Option<RtChain>,
    /// A chain that arrived during a fade: it starts when the fade ends.
    pending: Option<RtChain>,
    pos: usize,
    len: usize,
    /// Frames the incoming chain runs muted before the fade (fills its delay lines, settles
    /// its compressor detector), and how far that has got.
    warm_len: usize,
    warm_pos: usize,
    /// The incoming chain's input fades in over this many frames, so that its delay lines
    /// hold a smooth onset (a hard one would come back as a click in every echo).
    in_len: usize,
    scratch_l: Vec<f32>,
    scratch_r: Vec<f32>,
}

impl Crossfade {
    pub fn new(sample_rate: u32, ms: f32, warmup_ms: f32, max_block: usize) -> Self {
        Self {
            incoming: None,
            pending: None,
            pos: 0,
            warm_len: (warmup_ms * 0.001 * sample_rate as f32).round() as usize,
            warm_pos: 0,
            len: ((ms * 0.001 * sample_rate as f32).round() as usize).max(1),
            in_len: ((INPUT_FADE_MS * 0.001 * sample_rate as f32).round() as usize).max(1),
            scratch_l: vec![0.0; max_block],
            scratch_r: vec![0.0; max_block],
        }
    }

    /// Take in a new chain. Returns a chain that it displaces (an older pending one), which the
    /// caller must send back.
    pub fn push(&mut self, chain: RtChain) -> Option<RtChain> {
        if self.incoming.is_none() {
            self.incoming = Some(chain);
            self.pos = 0;
            self.warm_pos = 0;
            None
        } else {
            self.pending.replace(chain)
        }
    }

    pub fn is_active(&self) -> bool {
        self.incoming.is_some()
    }

    /// Every chain waiting or fading in (not the running one).
    pub fn for_each_chain(&mut self, f: &mut impl FnMut(&mut RtChain)) {
        if let Some(c) = self.incoming.as_mut() {
            f(c);
        }
        if let Some(c) = self.pending.as_mut() {
            f(c);
        }
    }

    /// Run the incoming chain on the input and fade `out` (the running chain's output) towards
    /// it. Returns whether the fade has reached the new chain.
    pub fn process(&mut self, in_l: &[f32], in_r: &[f32], out_l: &mut [f32], out_r: &mut [f32]) -> bool {
        let Some(chain) = self.incoming.as_mut() else { return false };
        let n = in_l.len();
        let (sl, sr) = (&mut self.scratch_l[..n], &mut self.scratch_r[..n]);
        sl.copy_from_slice(in_l);
        sr.copy_from_slice(in_r);
        if self.warm_pos < self.in_len {
            for i in 0..n {
                let g = ((self.warm_pos + i + 1) as f32 / self.in_len as f32).min(1.0);
                sl[i] *= g;
                sr[i] *= g;
            }
        }
        chain.process(sl, sr);
        if self.warm_pos < self.warm_len.max(self.in_len) {
            self.warm_pos += n;
            return false;
        }
        let inv = 1.0 / self.len as f32;
        for i in 0..n {
            let t = ((self.pos + i + 1) as f32 * inv).min(1.0);
            out_l[i] += t * (sl[i] - out_l[i]);
            out_r[i] += t * (sr[i] - out_r[i]);
        }
        self.pos = (self.pos + n).min(self.len);
        self.pos >= self.len
    }

    /// After a finished fade: the chain that now runs alone; a pending chain starts fading in.
    pub fn take_finished(&mut self) -> Option<RtChain> {
        if self.pos < self.len {
            return None;
        }
        let done = self.incoming.take();
        self.pos = 0;
        self.warm_pos = 0;
        self.incoming = self.pending.take();
        done
    }
}

/// The glide's shape: smoothstep `3t² − 2t³`, which starts and ends with zero slope. A
/// straight line starts and stops the parameter's motion at once, and on a large move (an EQ band
/// swinging 30 dB, a compressor's threshold) that kink in the level shows as a tick at both ends.
fn ease(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[derive(Clone, Copy)]
struct Glide {
    active: bool,
    slot: usize,
    index: usize,
    from: f64,
    to: f64,
    pos: u32,
    range: ParamRange,
}

/// Per-parameter glides, one preallocated entry per parameter of the chain.
pub(crate) struct Glides {
    table: Vec<Glide>,
    offsets: Vec<usize>,
    len: u32,
    active: usize,
}

impl Glides {
    pub fn new(chain: &Chain, sample_rate: u32, ms: f32) -> Self {
        let mut table = Vec::new();
        let mut offsets = Vec::new();
        for slot in 0..chain.len() {
            offsets.push(table.len());
            for (index, spec) in chain.effect(slot).params().iter().enumerate() {
                table.push(Glide {
                    active: false,
                    slot,
                    index,
                    from: 0.0,
                    to: 0.0,
                    pos: 0,
                    range: spec.range(),
                });
            }
        }
        let len = (ms * 0.001 * sample_rate as f32).round() as u32;
        Self { table, offsets, len, active: 0 }
    }

    /// Whether changes apply at once (no glide configured).
    pub fn is_instant(&self) -> bool {
        self.len == 0
    }

    fn entry(&mut self, slot: usize, index: usize) -> Option<&mut Glide> {
        let g = self.offsets.get(slot).and_then(|&o| self.table.get_mut(o + index))?;
        // An index past this effect's parameters lands on another effect's entry.
        (g.slot == slot && g.index == index).then_some(g)
    }

    /// The plain value of `(slot, index)` at `normalized` (in the parameter's full range);
    /// `None` for a parameter the chain does not have.
    pub fn to_plain(&mut self, slot: usize, index: usize, normalized: f64) -> Option<f32> {
        self.entry(slot, index).map(|g| g.range.to_plain(normalized))
    }

    /// Start a glide of `(slot, index)` to `to` (normalised in the parameter's full range)
    /// from where it is now.
    pub fn start(&mut self, chain: &RtChain, slot: usize, index: usize, to: f64) {
        if self.len == 0 {
            return;
        }
        let len = self.len;
        let Some(g) = self.entry(slot, index) else { return };
        let from = if g.active {
            g.from + (g.to - g.from) * ease(g.pos as f64 / len as f64)
        } else {
            g.range.to_normalized(chain.param(slot, index))
        };
        let to = to.clamp(0.0, 1.0);
        // Discrete values cannot glide: jump (the control side crossfades those instead).
        g.from = if g.range.mapping == Mapping::Discrete { to } else { from };
        g.to = to;
        g.pos = 0;
        if !g.active {
            g.active = true;
            self.active += 1;
        }
    }

    /// Advance every glide by `frames` and hand each new value to `set(slot, index, plain)`.
    pub fn advance(&mut self, frames: usize, mut set: impl FnMut(usize, usize, f32)) {
        if self.active == 0 {
            return;
        }
        for g in self.table.iter_mut().filter(|g| g.active) {
            g.pos = g.pos.saturating_add(frames as u32).min(self.len);
            let t = ease(g.pos as f64 / self.len as f64);
            set(g.slot, g.index, g.range.to_plain(g.from + (g.to - g.from) * t));
            if g.pos >= self.len {
                g.active = false;
                self.active -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::chain::ChainSpec;
    use crate::dsp::testutil;
    use crate::engine::{engine, AudioControl, AudioProcessor, EngineConfig};

    fn spec(name: &str) -> ChainSpec {
        ChainSpec::load(format!("{}/config/chains/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn max_step(y: &[f32]) -> f32 {
        y.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max)
    }

    /// Largest jump off the line through the two samples before, |y[n] − 2y[n−1] + y[n−2]|: a
    /// level change barely moves it, a discontinuity or a kink shows at once.
    fn max_jump(y: &[f32]) -> f32 {
        y.windows(3).map(|w| (w[2] - 2.0 * w[1] + w[0]).abs()).fold(0.0, f32::max)
    }

    /// A ramped swap of the free parameters `which` (all when `None`) from `a` to `b` on a
    /// 220 Hz sine: (largest jump in the 0.5 s after the swap) / (largest steady jump before or
    /// after), and the same ratio for plain steps.
    fn tick_ratios(chain: &str, a: f64, b: f64, which: Option<usize>) -> (f32, f32) {
        let fs = 48_000;
        let x = testutil::sine(fs * 2, 220.0, fs as f32, 0.3);
        let (mut h, mut p) = engine(&spec(chain), &EngineConfig::default()).unwrap();
        let n = h.normalized().len();
        h.apply_normalized_crossfade(&vec![a; n]).unwrap();
        let mut to = vec![a; n];
        match which {
            Some(i) => to[i] = b,
            None => to.fill(b),
        }
        let swap = 128 * 375;
        let y = run_with_swap(&mut p, &x, swap, || h.apply_normalized(&to).unwrap());
        let (before, during, after) = (&y[fs / 2..swap], &y[swap..swap + fs / 2], &y[swap + fs / 2..]);
        (
            max_jump(during) / max_jump(before).max(max_jump(after)),
            max_step(during) / max_step(before).max(max_step(after)),
        )
    }

    #[test]
    fn large_moves_glide_without_ticks() {
        // Large EQ moves are where ticks show: the high shelf alone, and everything at once (which
        // ends 10 dB over full scale with every EQ band at +19 dB). The limits sit far below the
        // ratios of coarser stepping (`docs/experiments.md`).
        for (chain, a, b, which, max_jump_ratio) in [
            ("eq-comp.toml", 0.2, 0.9, Some(5), 2.0), // high shelf −14 → +19 dB
            ("eq-comp.toml", 0.9, 0.2, Some(5), 2.0),
            ("eq-comp.toml", 0.5, 0.9, Some(3), 1.5), // 4 kHz peak 0 → +19 dB
            ("eq-comp.toml", 0.2, 0.9, None, 6.0),
            ("eq-comp.toml", 0.9, 0.2, None, 4.0),
            ("default.toml", 0.2, 0.8, None, 1.5),
            ("default.toml", 0.8, 0.2, None, 1.5),
        ] {
            let (jump, step) = tick_ratios(chain, a, b, which);
            println!("{chain} {a} -> {b} {which:?}: jump ratio {jump:.2}, step ratio {step:.2}");
            assert!(jump <= max_jump_ratio, "{chain} {a} -> {b} {which:?}: jump ratio {jump}");
            // Steps may exceed both steady states a little while a compressor settles.
            assert!(step <= 1.25, "{chain} {a} -> {b} {which:?}: step ratio {step}");
        }
    }

    /// Run `x` through `p` in 128-frame blocks under `assert_no_alloc`, calling `at_swap` once
    /// at frame `swap_at`.
    fn run_with_swap(
        p: &mut AudioProcessor,
        x: &[f32],
        swap_at: usize,
        mut at_swap: impl FnMut(),
    ) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        let mut scratch = vec![0.0; 128];
        for (i, (xi, oi)) in x.chunks(128).zip(out.chunks_mut(128)).enumerate() {
            if i * 128 == swap_at {
                at_swap();
            }
            let s = &mut scratch[..xi.len()];
            assert_no_alloc::assert_no_alloc(|| p.process(xi, xi, oi, s));
        }
        out
    }

    /// Steady max step with the old values, with the new ones (each settled, from a fresh
    /// engine), and the max step in the window around a swap between them.
    fn steps(chain: &str, a: f64, b: f64, crossfade: bool) -> (f32, f32, f32, u64) {
        let fs = 48_000;
        let x = testutil::sine(fs, 220.0, fs as f32, 0.25);
        let half = 128 * 190; // at a block boundary, ~0.5 s
        let steady = |v: f64| {
            let (mut h, mut p) = engine(&spec(chain), &EngineConfig::default()).unwrap();
            let n = h.normalized().len();
            h.apply_normalized_crossfade(&vec![v; n]).unwrap();
            let y = run_with_swap(&mut p, &x, usize::MAX, || {});
            max_step(&y[fs / 4..])
        };
        let (sa, sb) = (steady(a), steady(b));
        let (mut h, mut p) = engine(&spec(chain), &EngineConfig::default()).unwrap();
        let n = h.normalized().len();
        h.apply_normalized_crossfade(&vec![a; n]).unwrap();
        let mut swapped = false;
        let y = run_with_swap(&mut p, &x, half, || {
            swapped = true;
            if crossfade {
                h.apply_normalized_crossfade(&vec![b; n]).unwrap()
            } else {
                h.apply_normalized(&vec![b; n]).unwrap()
            }
        });
        assert!(swapped);
        h.collect_garbage();
        assert_eq!(h.swaps_in_flight(), 0, "the old chain came back and was dropped here");
        (sa, sb, max_step(&y[half - 10..half + fs * 4 / 10]), h.swaps_done())
    }

    #[test]
    fn ramped_swap_is_click_free() {
        let (sa, sb, during, swaps) = steps("eq-comp.toml", 0.4, 0.6, false);
        println!("eq-comp ramp: steady {sa:.5} / {sb:.5}, at swap {during:.5}");
        assert_eq!(swaps, 1, "only the initial crossfade: the swap itself ramped");
        assert!(during <= sa.max(sb) * 1.01, "{during} > {sa} / {sb}");
    }

    #[test]
    fn crossfaded_swap_is_click_free() {
        let (sa, sb, during, swaps) = steps("default.toml", 0.2, 0.7, true);
        println!("default crossfade: steady {sa:.5} / {sb:.5}, at swap {during:.5}");
        assert_eq!(swaps, 2);
        assert!(during <= sa.max(sb) * 1.01, "{during} > {sa} / {sb}");
    }

    #[test]
    fn ramped_swap_on_the_default_chain_is_click_free() {
        let (sa, sb, during, _) = steps("default.toml", 0.2, 0.7, false);
        println!("default ramp: steady {sa:.5} / {sb:.5}, at swap {during:.5}");
        assert!(during <= sa.max(sb) * 1.01, "{during} > {sa} / {sb}");
    }
}
