//! The JACK process callback: MIDI in (note-on and control change, forwarded to the control
//! side through a wait-free ring), then the [`AudioProcessor`] on the ports' buffers.
//!
//! In debug builds the callback runs inside `assert_no_alloc::assert_no_alloc`: where the
//! binary installs `assert_no_alloc::AllocDisabler` as its global allocator (the JACK
//! integration test does), any allocation or free on the audio thread aborts the process with
//! a message; elsewhere the wrapper only costs a thread-local counter.

use jack::{AudioIn, AudioOut, Client, Control, MidiIn, Port, ProcessScope};

use super::AudioProcessor;
use crate::engine::MidiEvent;

/// The callback's ports: stereo or mono audio.
pub(in crate::engine) enum Ports {
    Stereo { in_l: Port<AudioIn>, in_r: Port<AudioIn>, out_l: Port<AudioOut>, out_r: Port<AudioOut> },
    Mono { input: Port<AudioIn>, output: Port<AudioOut> },
}

/// The process callback's state.
pub(in crate::engine) struct Process {
    pub processor: AudioProcessor,
    pub ports: Ports,
    pub midi_in: Port<MidiIn>,
    pub midi_tx: rtrb::Producer<MidiEvent>,
}

impl jack::ProcessHandler for Process {
    fn process(&mut self, _: &Client, ps: &ProcessScope) -> Control {
        #[cfg(debug_assertions)]
        assert_no_alloc::assert_no_alloc(|| self.run(ps));
        #[cfg(not(debug_assertions))]
        self.run(ps);
        Control::Continue
    }
}

impl Process {
    fn run(&mut self, ps: &ProcessScope) {
        for raw in self.midi_in.iter(ps) {
            if let Some(e) = parse_midi(raw.bytes) {
                // A full ring means nobody polls: dropping the event is the only RT-safe choice.
                let _ = self.midi_tx.push(e);
            }
        }
        match &mut self.ports {
            Ports::Stereo { in_l, in_r, out_l, out_r } => self.processor.process(
                in_l.as_slice(ps),
                in_r.as_slice(ps),
                out_l.as_mut_slice(ps),
                out_r.as_mut_slice(ps),
            ),
            Ports::Mono { input, output } => {
                self.processor.process_mono(input.as_slice(ps), output.as_mut_slice(ps))
            }
        }
    }
}

/// Note-on (velocity > 0) and control change; everything else is ignored.
pub fn parse_midi(bytes: &[u8]) -> Option<MidiEvent> {
    let (&status, data) = bytes.split_first()?;
    let channel = status & 0x0F;
    match (status & 0xF0, data) {
        (0x90, &[note, velocity, ..]) if velocity > 0 => {
            Some(MidiEvent::NoteOn { channel, note: note & 0x7F })
        }
        (0xB0, &[controller, value, ..]) => {
            Some(MidiEvent::ControlChange { channel, controller: controller & 0x7F, value: value & 0x7F })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midi_parsing() {
        assert_eq!(parse_midi(&[0x93, 60, 100]), Some(MidiEvent::NoteOn { channel: 3, note: 60 }));
        assert_eq!(parse_midi(&[0x90, 60, 0]), None, "velocity 0 is a note-off");
        assert_eq!(
            parse_midi(&[0xB0, 64, 127]),
            Some(MidiEvent::ControlChange { channel: 0, controller: 64, value: 127 })
        );
        assert_eq!(parse_midi(&[0x80, 60, 0]), None);
        assert_eq!(parse_midi(&[0x90, 60]), None);
        assert_eq!(parse_midi(&[]), None);
    }
}
