//! [`RtChain`]: a prepared [`Chain`] as the audio thread holds it, with only the chain's
//! real-time methods. Building, preparing and reading a chain's state happen on the control
//! side, before it is wrapped; after it comes back through the return queue it is dropped
//! there.

use crate::chain::Chain;

/// A prepared chain on the audio thread (see the module notes). Moving one moves a pointer.
pub(crate) struct RtChain(Box<Chain>);

impl RtChain {
    /// Wrap a chain prepared (and settled) off the audio thread.
    pub fn new(chain: Box<Chain>) -> Self {
        debug_assert!(chain.max_block() > 0, "RtChain::new takes a prepared chain");
        Self(chain)
    }

    /// [`Chain::process`].
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        self.0.process(left, right);
    }

    /// [`Chain::set_param`].
    pub fn set_param(&mut self, slot: usize, index: usize, value: f32) {
        self.0.set_param(slot, index, value);
    }

    /// [`Chain::set_param_over`].
    pub fn set_param_over(&mut self, slot: usize, index: usize, value: f32, samples: u32) {
        self.0.set_param_over(slot, index, value, samples);
    }

    /// [`Chain::set_bypass`].
    pub fn set_bypass(&mut self, slot: usize, bypass: bool) {
        self.0.set_bypass(slot, bypass);
    }

    /// The current target of parameter `index` of the effect in `slot` (plain units).
    pub fn param(&self, slot: usize, index: usize) -> f32 {
        self.0.effect(slot).param(index)
    }
}
