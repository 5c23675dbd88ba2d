//! **Everything in this module runs on the audio thread** (the JACK process callback, or the
//! offline clock's thread), and nothing else does: the [`AudioProcessor`] that the callback
//! drives, the real-time view of a prepared chain (`RtChain`), the glides and crossfades of
//! [`swap`], and the JACK callback itself (`jack_callback`). The one other thing the callback
//! calls is [`CaptureWriter::write`](super::CaptureWriter::write) (wait-free).
//!
//! Once built, none of it allocates, frees, locks, blocks or panics (checked under
//! `assert_no_alloc` in the unit tests and, in debug builds, in the JACK callback). What builds
//! these types, or must not run in the callback, lives outside: `super::build` (the engine's
//! construction, a reconnect's restored state and capture history), the
//! [`EngineHandle`](super::EngineHandle) (the control side, which builds and frees chains).

mod chain;
pub(super) mod jack_callback;
mod processor;
pub mod swap;

pub(crate) use chain::RtChain;
pub use processor::AudioProcessor;
pub(crate) use processor::{Command, SharedStats, COMMAND_CAPACITY, RETURN_CAPACITY, WHOLE_CHAIN};
