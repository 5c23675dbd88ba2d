//! [`ChainSettings`]: what a running chain is set to, as one value: every parameter of every
//! effect (normalised in the parameter's own range), each effect's bypass and the whole
//! chain's. The engine's control side ([`super::EngineHandle`]) owns the one copy; the daemon
//! reads it, changes a copy and hands that back in one call.

use std::sync::Arc;

use crate::chain::{Chain, FreeParam, Params};
use crate::effect::{unknown_param, ParamSpec};
use crate::error::{Error, Result};

/// What does not change while an engine runs: the effects' ids and parameter specs, and the
/// free parameters. Shared by every copy of the settings.
#[derive(Debug, PartialEq)]
struct Layout {
    ids: Vec<String>,
    specs: Vec<Vec<ParamSpec>>,
    free: Vec<FreeParam>,
}

/// A chain's settings (see the module notes). Cheap to clone: the layout is shared.
///
/// Values are kept normalised in each parameter's full range ([`ParamSpec::range`]), which is
/// what the audio thread's glides work in; they are always set from plain values, so reading a
/// plain value back gives the value set.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSettings {
    layout: Arc<Layout>,
    values: Vec<Vec<f64>>,
    bypass: Vec<bool>,
    whole_bypass: bool,
}

/// One difference between two settings of the same chain (see [`ChainSettings::changes`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Change {
    /// A parameter moved: its slot, index and new value, normalised in its full range.
    Param { slot: usize, index: usize, normalized: f64, needs_crossfade: bool },
    /// An effect's bypass switched.
    Bypass { slot: usize, bypass: bool },
    /// The whole chain's bypass switched.
    WholeBypass(bool),
}

impl ChainSettings {
    /// The settings `chain` is at (its parameters' targets and its effects' bypasses; the
    /// whole chain not bypassed).
    pub fn of(chain: &Chain) -> Self {
        let mut ids = Vec::with_capacity(chain.len());
        let mut specs = Vec::with_capacity(chain.len());
        let mut values = Vec::with_capacity(chain.len());
        for slot in 0..chain.len() {
            let effect = chain.effect(slot);
            ids.push(chain.spec().effects[slot].id.clone());
            specs.push(effect.params().to_vec());
            values.push(
                effect
                    .params()
                    .iter()
                    .enumerate()
                    .map(|(i, p)| p.range().to_normalized(effect.param(i)))
                    .collect(),
            );
        }
        let bypass = (0..chain.len()).map(|s| chain.is_bypassed(s)).collect();
        let layout = Layout { ids, specs, free: chain.free_params().to_vec() };
        Self { layout: Arc::new(layout), values, bypass, whole_bypass: false }
    }

    /// Whether `other` describes the same chain (same effects, parameters and free parameters).
    pub fn same_chain(&self, other: &ChainSettings) -> bool {
        Arc::ptr_eq(&self.layout, &other.layout) || self.layout == other.layout
    }

    /// Number of effects.
    pub fn len(&self) -> usize {
        self.layout.ids.len()
    }

    /// Whether the chain has no effects.
    pub fn is_empty(&self) -> bool {
        self.layout.ids.is_empty()
    }

    /// Each effect's id and parameter specs, in chain order.
    pub fn effects(&self) -> impl Iterator<Item = (&str, &[ParamSpec])> {
        self.layout.ids.iter().map(String::as_str).zip(self.layout.specs.iter().map(Vec::as_slice))
    }

    /// The parameter specs of the effect in `slot`.
    pub fn param_specs(&self, slot: usize) -> &[ParamSpec] {
        &self.layout.specs[slot]
    }

    /// The free parameters, in search-vector order.
    pub fn free_params(&self) -> &[FreeParam] {
        &self.layout.free
    }

    /// The slot of an effect by id; the error names the unknown id and the fix.
    pub fn slot_of(&self, effect_id: &str) -> Result<usize> {
        self.layout.ids.iter().position(|id| id == effect_id).ok_or_else(|| {
            Error::invalid(
                format!("the chain has no effect `{effect_id}`"),
                "use an effect id from `fxmatch chain show`",
            )
        })
    }

    /// `(slot, index)` of a parameter by ids; errors name the unknown effect or parameter.
    pub fn locate(&self, effect_id: &str, param_id: &str) -> Result<(usize, usize)> {
        let slot = self.slot_of(effect_id)?;
        let index = self.layout.specs[slot]
            .iter()
            .position(|p| p.id == param_id)
            .ok_or_else(|| unknown_param(effect_id, param_id))?;
        Ok((slot, index))
    }

    /// Where a parameter is and `value` as it would be set (clamped into its range); errors
    /// name the unknown effect or parameter, or the range the value falls outside. Changes
    /// nothing.
    pub fn check_plain(&self, effect_id: &str, param_id: &str, value: f32) -> Result<(usize, usize, f32)> {
        let (slot, index) = self.locate(effect_id, param_id)?;
        Ok((slot, index, self.layout.specs[slot][index].check_plain(effect_id, value)?))
    }

    /// Set one parameter by ids, in plain units (see [`ChainSettings::check_plain`]).
    pub fn set(&mut self, effect_id: &str, param_id: &str, value: f32) -> Result<()> {
        let (slot, index, value) = self.check_plain(effect_id, param_id, value)?;
        self.set_plain(slot, index, value);
        Ok(())
    }

    /// Set parameter `index` of the effect in `slot` to a plain value (clamped into its range).
    pub fn set_plain(&mut self, slot: usize, index: usize, value: f32) {
        let range = self.layout.specs[slot][index].range();
        self.values[slot][index] = range.to_normalized(range.clamp(value));
    }

    /// A parameter's value in plain units.
    pub fn plain(&self, slot: usize, index: usize) -> f32 {
        self.layout.specs[slot][index].range().to_plain(self.values[slot][index])
    }

    /// A parameter's value by ids, in plain units.
    pub fn get(&self, effect_id: &str, param_id: &str) -> Result<f32> {
        let (slot, index) = self.locate(effect_id, param_id)?;
        Ok(self.plain(slot, index))
    }

    /// The free parameters as a normalised vector (in their searched ranges).
    pub fn normalized(&self) -> Vec<f64> {
        self.layout.free.iter().map(|p| p.range.to_normalized(self.plain(p.slot, p.index))).collect()
    }

    /// Set the free parameters from a normalised vector (values clamped to `[0, 1]`); extra
    /// values are ignored, missing ones leave parameters as they are.
    pub fn set_normalized(&mut self, x: &[f64]) {
        let layout = Arc::clone(&self.layout);
        for (p, &n) in layout.free.iter().zip(x) {
            self.set_plain(p.slot, p.index, p.range.to_plain(n));
        }
    }

    /// Check that `x` is a vector of the free parameters: one finite value per parameter.
    pub fn check_vector(&self, x: &[f64]) -> Result<()> {
        let n = self.layout.free.len();
        if x.len() != n {
            return Err(Error::invalid(
                format!("the parameter vector has {} values but the chain has {n} free parameters", x.len()),
                "pass one value in [0, 1] per free parameter, in the order of `fxmatch chain show`",
            ));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                format!("value {i} of the parameter vector is {}", x[i]),
                "pass finite values in [0, 1]",
            ));
        }
        Ok(())
    }

    /// Every parameter of every effect, in plain units.
    pub fn params(&self) -> Params {
        let mut out = Params::default();
        for (slot, (id, specs)) in self.effects().enumerate() {
            let values = out.values.entry(id.to_string()).or_default();
            for (index, spec) in specs.iter().enumerate() {
                values.insert(spec.id.clone(), self.plain(slot, index));
            }
        }
        out
    }

    /// Set every value of a params file (see [`ChainSettings::set`]).
    pub fn apply_params(&mut self, params: &Params) -> Result<()> {
        for (effect, values) in &params.values {
            for (param, &value) in values {
                self.set(effect, param, value)?;
            }
        }
        Ok(())
    }

    /// Parse params TOML, checking every name and value against this chain (see
    /// [`Params::parse_for`]); `path` is only used in messages.
    pub fn parse_params(&self, text: &str, path: &std::path::Path) -> Result<Params> {
        let effects: Vec<(&str, &[ParamSpec])> = self.effects().collect();
        Params::parse_for(text, path, &effects)
    }

    /// Whether the effect in `slot` is (heading to) bypassed.
    pub fn is_bypassed(&self, slot: usize) -> bool {
        self.bypass.get(slot).copied().unwrap_or(false)
    }

    /// Bypass (or re-enable) the effect in `slot`.
    pub fn set_bypass(&mut self, slot: usize, bypass: bool) {
        if let Some(b) = self.bypass.get_mut(slot) {
            *b = bypass;
        }
    }

    /// Whether the whole chain is (heading to) bypassed.
    pub fn whole_bypass(&self) -> bool {
        self.whole_bypass
    }

    /// Bypass (or re-enable) the whole chain.
    pub fn set_whole_bypass(&mut self, bypass: bool) {
        self.whole_bypass = bypass;
    }

    /// Put `chain` (built from the same spec, off the audio thread) at these parameters and
    /// effect bypasses. The whole-chain bypass is not the chain's: the engine fades it.
    pub fn write_to(&self, chain: &mut Chain) {
        for (slot, values) in self.values.iter().enumerate() {
            for index in 0..values.len() {
                chain.set_param(slot, index, self.plain(slot, index));
            }
            chain.set_bypass(slot, self.bypass[slot]);
        }
    }

    /// What differs from `self` in `next` (settings of the same chain), in chain order.
    pub(crate) fn changes(&self, next: &ChainSettings) -> Vec<Change> {
        let mut out = Vec::new();
        for (slot, (now, then)) in self.values.iter().zip(&next.values).enumerate() {
            for (index, (a, b)) in now.iter().zip(then).enumerate() {
                if a != b {
                    let needs_crossfade = self.layout.specs[slot][index].needs_crossfade;
                    out.push(Change::Param { slot, index, normalized: *b, needs_crossfade });
                }
            }
        }
        for (slot, (a, b)) in self.bypass.iter().zip(&next.bypass).enumerate() {
            if a != b {
                out.push(Change::Bypass { slot, bypass: *b });
            }
        }
        if self.whole_bypass != next.whole_bypass {
            out.push(Change::WholeBypass(next.whole_bypass));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ChainSpec;

    fn chain(name: &str) -> Chain {
        let path = format!("{}/config/chains/{name}", env!("CARGO_MANIFEST_DIR"));
        Chain::from_spec(&ChainSpec::load(path).unwrap()).unwrap()
    }

    #[test]
    fn reads_back_what_the_chain_holds_and_what_was_set() {
        for name in ["default.toml", "eq-comp.toml"] {
            let mut c = chain(name);
            let s = ChainSettings::of(&c);
            assert_eq!(s.params(), c.params(), "{name}");
            assert_eq!(s.normalized(), c.normalized(), "{name}");
            // Plain values survive the normalised store exactly, across every range.
            let mut t = s.clone();
            for slot in 0..s.len() {
                for (index, spec) in s.param_specs(slot).iter().enumerate() {
                    for k in 0..=100 {
                        let v = spec.clamp(spec.min + (spec.max - spec.min) * k as f32 / 100.0);
                        t.set_plain(slot, index, v);
                        assert_eq!(t.plain(slot, index), v, "{name} {} {v}", spec.id);
                    }
                }
            }
            let x: Vec<f64> = (0..s.free_params().len()).map(|i| (i as f64 * 0.37) % 1.0).collect();
            let mut u = s.clone();
            u.set_normalized(&x);
            c.set_normalized(&x);
            assert_eq!(u.params(), c.params(), "{name}");
            assert_eq!(u.normalized(), c.normalized(), "{name}");
        }
    }

    #[test]
    fn changes_list_what_differs() {
        let s = ChainSettings::of(&chain("default.toml"));
        assert!(s.changes(&s).is_empty());
        let mut t = s.clone();
        t.set("eq", "low_gain", 6.0).unwrap();
        t.set_bypass(1, true);
        t.set_whole_bypass(true);
        let (slot, index) = s.locate("eq", "low_gain").unwrap();
        let want = t.values[slot][index];
        assert_eq!(
            s.changes(&t),
            [
                Change::Param { slot, index, normalized: want, needs_crossfade: false },
                Change::Bypass { slot: 1, bypass: true },
                Change::WholeBypass(true)
            ]
        );
        let e = t.set("eq", "low_gain", 1e6).unwrap_err().to_string();
        assert!(e.contains("outside") && e.contains("fix"), "{e}");
        assert_eq!(t.get("eq", "low_gain").unwrap(), 6.0, "a refused value changes nothing");
    }
}
