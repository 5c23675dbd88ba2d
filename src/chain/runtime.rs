//! [`Chain`]: the effects of a [`ChainSpec`] instantiated and wired in series.

use super::{instantiate_spec, ChainSpec, Params};
use crate::dsp::{blend_dry, DenormalGuard, Smoothed};
use crate::effect::{unknown_param, Effect, ParamRange};
use crate::error::{Error, Result};

/// Crossfade time for switching an effect's bypass.
const BYPASS_FADE_SECONDS: f32 = 0.010;

/// A free parameter of a chain: one coordinate of the optimizer's search vector.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeParam {
    /// Index of the effect in the chain.
    pub slot: usize,
    /// Index of the parameter within the effect.
    pub index: usize,
    /// The effect's id.
    pub effect_id: String,
    /// The parameter's id.
    pub param_id: String,
    /// Unit of the plain value.
    pub unit: String,
    /// The searched range.
    pub range: ParamRange,
    /// The parameter's neutral value ([`ParamSpec::neutral`](crate::effect::ParamSpec::neutral)),
    /// normalised into the searched range (the nearest end where the range excludes it).
    pub neutral: Option<f64>,
    /// Where a match starts: `neutral`, else the parameter's default, normalised.
    pub start: f64,
}

struct Slot {
    id: String,
    effect: Box<dyn Effect>,
    /// Target of the bypass switch.
    active: bool,
    /// 1 = effect fully in, 0 = fully bypassed; ramps between.
    mix: Smoothed,
}

/// Effects in series, with the free parameters exposed as one normalised vector.
///
/// Methods marked real-time safe may run on an audio thread; the rest allocate or read state
/// for the control side. The live engine holds a running chain as
/// `engine::realtime::RtChain`, which exposes only the real-time ones.
///
/// ```
/// use fxmatch::chain::{Chain, ChainSpec};
/// let spec = ChainSpec::parse("[[effect]]\ntype = \"gain\"\n[effect.free]\ngain = true\n", "inline.toml")?;
/// let mut chain = Chain::from_spec(&spec)?;
/// chain.prepare(48_000.0, 512);
/// chain.set_normalized(&[1.0]); // +24 dB, the top of the range
/// chain.snap();
/// let (mut l, mut r) = (vec![0.01f32; 64], vec![0.01f32; 64]);
/// chain.process(&mut l, &mut r);
/// assert!((l[63] - 0.01 * 10f32.powf(24.0 / 20.0)).abs() < 1e-5);
/// # Ok::<(), fxmatch::Error>(())
/// ```
pub struct Chain {
    spec: ChainSpec,
    slots: Vec<Slot>,
    free: Vec<FreeParam>,
    sample_rate: f32,
    max_block: usize,
    dry_l: Vec<f32>,
    dry_r: Vec<f32>,
}

impl Chain {
    /// Instantiate every effect of `spec` and apply its fixed values. Call [`Chain::prepare`]
    /// before processing.
    pub fn from_spec(spec: &ChainSpec) -> Result<Self> {
        let mut slots = Vec::with_capacity(spec.effects.len());
        let mut free = Vec::new();
        for (slot, e) in spec.effects.iter().enumerate() {
            let mut effect = instantiate_spec(e)?;
            let index_of = |effect: &dyn Effect, id: &str| effect.params().iter().position(|p| p.id == id);
            for (id, value) in &e.fixed {
                let i = index_of(&*effect, id).ok_or_else(|| unknown_param(&e.id, id))?;
                effect.set_param(i, *value);
            }
            for (id, range) in &e.free {
                let i = index_of(&*effect, id).ok_or_else(|| unknown_param(&e.id, id))?;
                let spec = &effect.params()[i];
                free.push(FreeParam {
                    slot,
                    index: i,
                    effect_id: e.id.clone(),
                    param_id: id.clone(),
                    unit: spec.unit.clone(),
                    range: *range,
                    neutral: spec.neutral.map(|v| range.to_normalized(v)),
                    start: range.to_normalized(spec.start()),
                });
            }
            let mut mix = Smoothed::new(if e.bypass { 0.0 } else { 1.0 });
            mix.set_target(if e.bypass { 0.0 } else { 1.0 });
            slots.push(Slot { id: e.id.clone(), effect, active: !e.bypass, mix });
        }
        Ok(Self {
            spec: spec.clone(),
            slots,
            free,
            sample_rate: 0.0,
            max_block: 0,
            dry_l: Vec::new(),
            dry_r: Vec::new(),
        })
    }

    /// The spec this chain was built from.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// Allocate for this sample rate and largest block. Off the audio thread.
    pub fn prepare(&mut self, sample_rate: f32, max_block: usize) {
        let max_block = max_block.max(1);
        self.sample_rate = sample_rate;
        self.max_block = max_block;
        self.dry_l = vec![0.0; max_block];
        self.dry_r = vec![0.0; max_block];
        for slot in &mut self.slots {
            slot.effect.prepare(sample_rate, max_block);
            slot.mix.prepare(sample_rate, BYPASS_FADE_SECONDS);
        }
    }

    /// Effects whose last prepare failed (hosted plugins that would not instantiate), as
    /// `(effect id, reason)`; they pass audio through.
    pub fn prepare_errors(&self) -> Vec<(String, String)> {
        self.slots
            .iter()
            .filter_map(|s| s.effect.prepare_error().map(|e| (s.id.clone(), e.to_string())))
            .collect()
    }

    /// Non-finite output samples that effects replaced by 0 since they were prepared.
    pub fn nonfinite_samples(&self) -> u64 {
        self.slots.iter().map(|s| s.effect.nonfinite_samples()).sum()
    }

    /// Process calls that hosted plugins answered with an error code (their blocks left dry)
    /// since they were prepared, as `(effect id, count)` for the effects with any.
    pub fn process_errors(&self) -> Vec<(String, u64)> {
        self.slots.iter().map(|s| (s.id.clone(), s.effect.process_errors())).filter(|(_, n)| *n > 0).collect()
    }

    /// Sample rate given to [`Chain::prepare`] (0 before).
    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// Largest block given to [`Chain::prepare`] (0 before): [`Chain::process`] cuts longer
    /// buffers into sub-blocks of this size.
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// Clear every effect's signal state. Real-time safe.
    pub fn reset(&mut self) {
        for slot in &mut self.slots {
            slot.effect.reset();
            slot.mix.snap();
        }
    }

    /// Return every effect to its just-prepared state ([`Effect::reinitialize`]): like
    /// [`Chain::reset`], and also for hosted plugins whose `activate` does not clear all their
    /// state. May allocate: off the audio thread (offline renders, the matcher).
    pub fn reinitialize(&mut self) {
        for slot in &mut self.slots {
            slot.effect.reinitialize();
            slot.mix.snap();
        }
    }

    /// Jump every parameter ramp to its target. Real-time safe.
    pub fn snap(&mut self) {
        for slot in &mut self.slots {
            slot.effect.snap();
            slot.mix.snap();
        }
    }

    /// The free parameters, in search-vector order.
    pub fn free_params(&self) -> &[FreeParam] {
        &self.free
    }

    /// The neutral start point: every free parameter at its neutral value, or its default where
    /// it has none (see [`FreeParam::start`]). Each effect is then as close to transparent as
    /// its searched ranges allow.
    pub fn start_point(&self) -> Vec<f64> {
        self.free.iter().map(|p| p.start).collect()
    }

    /// Length of the search vector.
    pub fn num_free(&self) -> usize {
        self.free.len()
    }

    /// Set the free parameters from a normalised vector (values clamped to `[0, 1]`). Real-time
    /// safe. Extra values are ignored; missing ones leave parameters as they are.
    pub fn set_normalized(&mut self, x: &[f64]) {
        for (p, &n) in self.free.iter().zip(x) {
            self.slots[p.slot].effect.set_param(p.index, p.range.to_plain(n));
        }
    }

    /// The free parameters' current targets as a normalised vector.
    pub fn normalized(&self) -> Vec<f64> {
        self.free.iter().map(|p| p.range.to_normalized(self.slots[p.slot].effect.param(p.index))).collect()
    }

    /// Plain values for a normalised vector, in search-vector order.
    pub fn to_plain(&self, x: &[f64]) -> Vec<f32> {
        self.free.iter().zip(x).map(|(p, &n)| p.range.to_plain(n)).collect()
    }

    /// Where parameter `param_id` of effect `effect_id` is, and `value` clamped to its range;
    /// errors name the effect or parameter that does not exist, or the range the value falls
    /// outside. Changes nothing.
    fn locate_plain(&self, effect_id: &str, param_id: &str, value: f32) -> Result<(usize, usize, f32)> {
        let slot = self.slots.iter().position(|s| s.id == effect_id).ok_or_else(|| {
            Error::invalid(
                format!("the chain has no effect `{effect_id}`"),
                "use an effect id from `fxmatch chain show`",
            )
        })?;
        let (index, spec) = self.slots[slot]
            .effect
            .params()
            .iter()
            .enumerate()
            .find(|(_, p)| p.id == param_id)
            .ok_or_else(|| unknown_param(effect_id, param_id))?;
        Ok((slot, index, spec.check_plain(effect_id, value)?))
    }

    /// Check that [`Chain::set_plain`] would take this value, without setting it; returns the
    /// value as it would be set.
    pub fn check_plain(&self, effect_id: &str, param_id: &str, value: f32) -> Result<f32> {
        self.locate_plain(effect_id, param_id, value).map(|(_, _, v)| v)
    }

    /// Set one parameter by ids, in plain units; errors name the effect or parameter that does
    /// not exist, or the range a value falls outside.
    pub fn set_plain(&mut self, effect_id: &str, param_id: &str, value: f32) -> Result<()> {
        let (slot, index, v) = self.locate_plain(effect_id, param_id, value)?;
        self.slots[slot].effect.set_param(index, v);
        Ok(())
    }

    /// Set parameter `index` of the effect in `slot` to a plain value (clamped into its range;
    /// out-of-range indices are ignored). Real-time safe: the control side resolves ids with
    /// [`Chain::locate`] and the audio thread calls this.
    pub fn set_param(&mut self, slot: usize, index: usize, value: f32) {
        if let Some(s) = self.slots.get_mut(slot) {
            if let Some(spec) = s.effect.params().get(index) {
                let v = spec.clamp(value);
                s.effect.set_param(index, v);
            }
        }
    }

    /// [`Chain::set_param`], reaching the value in exactly `samples` samples
    /// ([`Effect::set_param_over`]). Real-time safe.
    pub fn set_param_over(&mut self, slot: usize, index: usize, value: f32, samples: u32) {
        if let Some(s) = self.slots.get_mut(slot) {
            if let Some(spec) = s.effect.params().get(index) {
                let v = spec.clamp(value);
                s.effect.set_param_over(index, v, samples);
            }
        }
    }

    /// `(slot, index)` of a parameter by ids; errors name the unknown effect or parameter.
    pub fn locate(&self, effect_id: &str, param_id: &str) -> Result<(usize, usize)> {
        let slot = self.slot_of(effect_id)?;
        let index = self.slots[slot]
            .effect
            .params()
            .iter()
            .position(|p| p.id == param_id)
            .ok_or_else(|| unknown_param(effect_id, param_id))?;
        Ok((slot, index))
    }

    /// The slot of an effect by id; the error names the unknown id and the fix.
    pub fn slot_of(&self, effect_id: &str) -> Result<usize> {
        self.slots.iter().position(|s| s.id == effect_id).ok_or_else(|| {
            Error::invalid(
                format!("the chain has no effect `{effect_id}`"),
                "use an effect id from `fxmatch chain show`",
            )
        })
    }

    /// Apply every value of a params file (see [`Chain::set_plain`]).
    pub fn apply_params(&mut self, params: &Params) -> Result<()> {
        for (effect, values) in &params.values {
            for (param, value) in values {
                self.set_plain(effect, param, *value)?;
            }
        }
        Ok(())
    }

    /// Every parameter of every effect, in plain units.
    pub fn params(&self) -> Params {
        let mut out = Params::default();
        for slot in &self.slots {
            let values = out.values.entry(slot.id.clone()).or_default();
            for (i, spec) in slot.effect.params().iter().enumerate() {
                values.insert(spec.id.clone(), slot.effect.param(i));
            }
        }
        out
    }

    /// Number of effects.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the chain has no effects (never, for a chain built from a valid spec).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The effect in `slot`.
    pub fn effect(&self, slot: usize) -> &dyn Effect {
        &*self.slots[slot].effect
    }

    /// Bypass (or re-enable) the effect in `slot`, crossfading over 10 ms. Real-time safe.
    pub fn set_bypass(&mut self, slot: usize, bypass: bool) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.active = !bypass;
            s.mix.set_target(if bypass { 0.0 } else { 1.0 });
        }
    }

    /// Whether the effect in `slot` is (heading to) bypassed.
    pub fn is_bypassed(&self, slot: usize) -> bool {
        self.slots.get(slot).is_some_and(|s| !s.active)
    }

    /// Longest tail of the chain at its settings, in seconds (sum over effects).
    pub fn tail_seconds(&self) -> f32 {
        self.slots.iter().filter(|s| s.active).map(|s| s.effect.tail_seconds()).sum()
    }

    /// Process any number of frames in place, in sub-blocks of at most `max_block`. Real-time
    /// safe once prepared; flushes denormals for its duration.
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        debug_assert!(self.max_block > 0, "Chain::prepare must be called before process");
        if self.max_block == 0 {
            return;
        }
        let _ftz = DenormalGuard::new();
        let n = left.len().min(right.len());
        let mut start = 0;
        while start < n {
            let end = (start + self.max_block).min(n);
            self.process_block(&mut left[start..end], &mut right[start..end]);
            start = end;
        }
    }

    fn process_block(&mut self, left: &mut [f32], right: &mut [f32]) {
        let len = left.len();
        for slot in &mut self.slots {
            if slot.mix.is_smoothing() {
                let (dl, dr) = (&mut self.dry_l[..len], &mut self.dry_r[..len]);
                dl.copy_from_slice(left);
                dr.copy_from_slice(right);
                slot.effect.process(left, right);
                blend_dry(&mut slot.mix, dl, dr, left, right);
            } else if slot.active {
                slot.effect.process(left, right);
            }
        }
    }
}
