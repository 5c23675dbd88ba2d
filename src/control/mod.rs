//! How the daemon is reached: OSC over UDP ([`osc`]). The MIDI footswitch arrives through the
//! engine (`AudioControl::poll_midi`) and is mapped by the config; GPIO footswitches are behind
//! the `gpio` cargo feature ([`gpio`]; its debouncing is always built and tested).

pub mod gpio;
pub mod osc;
