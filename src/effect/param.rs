//! Parameter specifications and the mapping between plain units and the normalised `[0, 1]`
//! values that the optimizer searches.

use serde::Serialize;

use crate::error::{Error, Result};

/// How a parameter's normalised value `[0, 1]` maps onto its plain range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mapping {
    /// Evenly spaced in plain units (gains in dB, mix, tone).
    Linear,
    /// Evenly spaced in the logarithm of the plain value (frequencies, times, ratios, Q).
    /// Requires `min > 0`.
    Log,
    /// Whole numbers from `min` to `max` inclusive (toggles, enumerations, modes).
    Discrete,
}

/// Everything a host, a UI or the optimizer needs to know about one parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    /// Stable symbol used in chain and params files, e.g. `threshold`.
    pub id: String,
    /// Human-readable name, e.g. `Threshold`.
    pub name: String,
    /// Unit shown to people (`dB`, `Hz`, `ms`, `%`, or empty).
    pub unit: String,
    /// Lowest plain value.
    pub min: f32,
    /// Highest plain value.
    pub max: f32,
    /// Plain value a fresh effect starts with.
    pub default: f32,
    /// Plain value at which this parameter adds the least processing (EQ gain 0 dB, compressor
    /// ratio 1, wet mix 0, drive at its minimum), where that is a property of the parameter:
    /// the match starts here and its prior pulls toward it
    /// ([`MatchConfig::prior`](crate::optimize::MatchConfig::prior)). `None` for parameters that
    /// shape processing without setting its amount (frequencies, Q, times, room size): they
    /// start at their default and are not pulled anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neutral: Option<f32>,
    /// Mapping between plain and normalised values.
    pub mapping: Mapping,
    /// The parameter cannot glide without artefacts (a structure change, a mode switch): a
    /// live engine changes it by crossfading two chain instances instead of ramping. Set for
    /// discrete parameters by [`ParamSpec::new`]; effects mark others with
    /// [`ParamSpec::with_crossfade`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub needs_crossfade: bool,
}

impl ParamSpec {
    /// A new spec. Panics on an inconsistent spec (programming error in an effect's table).
    pub fn new(id: &str, name: &str, unit: &str, min: f32, max: f32, default: f32, mapping: Mapping) -> Self {
        assert!(min < max, "{id}: min must be below max");
        assert!((min..=max).contains(&default), "{id}: default outside range");
        assert!(mapping != Mapping::Log || min > 0.0, "{id}: log mapping needs min > 0");
        let needs_crossfade = mapping == Mapping::Discrete;
        Self {
            id: id.into(),
            name: name.into(),
            unit: unit.into(),
            min,
            max,
            default,
            neutral: None,
            mapping,
            needs_crossfade,
        }
    }

    /// The same spec with a neutral value (see [`ParamSpec::neutral`]). Panics on a value
    /// outside the range (programming error in an effect's table).
    pub fn with_neutral(mut self, neutral: f32) -> Self {
        assert!((self.min..=self.max).contains(&neutral), "{}: neutral outside range", self.id);
        self.neutral = Some(neutral);
        self
    }

    /// Where the match starts this parameter, in plain units: its neutral value, else its
    /// default.
    pub fn start(&self) -> f32 {
        self.neutral.unwrap_or(self.default)
    }

    /// The same spec, marked (or unmarked) as needing a crossfade to change live.
    pub fn with_crossfade(mut self, needs_crossfade: bool) -> Self {
        self.needs_crossfade = needs_crossfade;
        self
    }

    /// The spec's full range.
    pub fn range(&self) -> ParamRange {
        ParamRange { min: self.min, max: self.max, mapping: self.mapping }
    }

    /// Clamp a plain value into the spec's range (discrete values are rounded).
    pub fn clamp(&self, plain: f32) -> f32 {
        self.range().clamp(plain)
    }

    /// `plain` as it would be set (clamped, discrete values rounded) when it lies inside the
    /// range; otherwise an error naming `effect_id.id`, the value and the range.
    pub fn check_plain(&self, effect_id: &str, plain: f32) -> Result<f32> {
        if !plain.is_finite() || !self.range().contains(plain) {
            return Err(Error::invalid(
                format!(
                    "`{effect_id}.{}` = {plain} is outside {}..{} {}",
                    self.id, self.min, self.max, self.unit
                ),
                "choose a value inside the parameter's range",
            ));
        }
        Ok(self.clamp(plain))
    }
}

/// The error for a parameter id that effect `effect` does not have.
pub fn unknown_param(effect: &str, param: &str) -> Error {
    Error::invalid(
        format!("effect `{effect}` has no parameter `{param}`"),
        "use a parameter id from `fxmatch chain show CHAIN.toml`",
    )
}

/// A (possibly narrowed) searchable range of one parameter.
///
/// ```
/// use fxmatch::effect::{Mapping, ParamRange};
/// let freq = ParamRange { min: 20.0, max: 20_000.0, mapping: Mapping::Log };
/// assert!((freq.to_plain(0.5) - 632.456).abs() < 0.01); // geometric middle
/// assert!((freq.to_normalized(632.456) - 0.5).abs() < 1e-4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParamRange {
    /// Plain value at normalised 0.
    pub min: f32,
    /// Plain value at normalised 1.
    pub max: f32,
    /// How normalised values are spread between `min` and `max`.
    pub mapping: Mapping,
}

impl ParamRange {
    /// Normalised `[0, 1]` (clamped; NaN maps to 0) to plain units.
    pub fn to_plain(&self, normalized: f64) -> f32 {
        let n = if normalized.is_nan() { 0.0 } else { normalized.clamp(0.0, 1.0) };
        let (lo, hi) = (self.min as f64, self.max as f64);
        let v = match self.mapping {
            Mapping::Linear => lo + n * (hi - lo),
            Mapping::Log => lo * (hi / lo).powf(n),
            Mapping::Discrete => (lo + n * (hi - lo)).round(),
        };
        (v as f32).clamp(self.min, self.max)
    }

    /// Plain units to normalised `[0, 1]` (clamped).
    pub fn to_normalized(&self, plain: f32) -> f64 {
        let p = self.clamp(plain) as f64;
        let (lo, hi) = (self.min as f64, self.max as f64);
        let n = match self.mapping {
            Mapping::Linear | Mapping::Discrete => (p - lo) / (hi - lo),
            Mapping::Log => (p / lo).ln() / (hi / lo).ln(),
        };
        n.clamp(0.0, 1.0)
    }

    /// Clamp into the range; discrete values are rounded to whole numbers.
    pub fn clamp(&self, plain: f32) -> f32 {
        let v = if plain.is_nan() { self.min } else { plain.clamp(self.min, self.max) };
        match self.mapping {
            Mapping::Discrete => v.round(),
            _ => v,
        }
    }

    /// Whether `plain` lies inside the range (with a little tolerance for float noise).
    pub fn contains(&self, plain: f32) -> bool {
        let tol = 1e-6 * (self.max - self.min).abs().max(1.0);
        plain >= self.min - tol && plain <= self.max + tol
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_and_discrete_round_trip() {
        let r = ParamRange { min: -24.0, max: 24.0, mapping: Mapping::Linear };
        for p in [-24.0, -3.5, 0.0, 12.25, 24.0] {
            assert!((r.to_plain(r.to_normalized(p)) - p).abs() < 1e-4);
        }
        let d = ParamRange { min: 0.0, max: 3.0, mapping: Mapping::Discrete };
        assert_eq!(d.to_plain(0.0), 0.0);
        assert_eq!(d.to_plain(0.4), 1.0);
        assert_eq!(d.to_plain(1.0), 3.0);
        assert_eq!(d.clamp(2.4), 2.0);
    }

    #[test]
    fn out_of_range_and_nan_are_clamped() {
        let r = ParamRange { min: 1.0, max: 100.0, mapping: Mapping::Log };
        assert_eq!(r.to_plain(-1.0), 1.0);
        assert_eq!(r.to_plain(2.0), 100.0);
        assert_eq!(r.to_plain(f64::NAN), 1.0);
        assert_eq!(r.to_normalized(1e9), 1.0);
    }
}
