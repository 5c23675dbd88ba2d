//! The capture history: every block of input goes into a fixed ring, wait-free and without
//! allocation; the control side copies out the last N seconds.
//!
//! The ring stores interleaved stereo frames as `f32` bits in `AtomicU32`s (plain safe Rust, no
//! `unsafe`). The writer uses a seqlock-style pair of counters: `claimed` (frames the writer is
//! about to overwrite, published before the data) and `written` (frames complete, published
//! with `Release` after the data). A reader copies frames `[written − n, written)`, then checks
//! `claimed` again: if the writer has meanwhile claimed the slots of the oldest frame it copied,
//! the copy may be torn and is retried.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::audio::AudioBuffer;
use crate::error::{Error, Result};

/// Frames the writer claims at a time: bounds how far it can run ahead of `written`.
const CHUNK: usize = 256;
/// Copies tried before a reader gives up (each one is lost only to a writer that laps the ring
/// while the copy runs, i.e. a ring far shorter than the copy time).
const RETRIES: usize = 8;

struct Shared {
    /// Interleaved L, R as `f32::to_bits`.
    data: Box<[AtomicU32]>,
    frames: usize,
    claimed: AtomicU64,
    written: AtomicU64,
    sample_rate: u32,
}

/// Create a ring holding `seconds` of stereo input at `sample_rate`: the audio thread's writer
/// and the control side's reader.
pub fn capture_ring(sample_rate: u32, seconds: f32) -> (CaptureWriter, CaptureReader) {
    let frames = ((sample_rate as f64 * seconds as f64).ceil() as usize).max(1);
    let data: Box<[AtomicU32]> = (0..frames * 2).map(|_| AtomicU32::new(0)).collect();
    // Zeroed memory can come from the OS untouched, paged in on first write: that would be the
    // audio thread, page-faulting through the ring for its first `seconds`. Write it here.
    for word in data.iter() {
        word.store(0, Ordering::Relaxed);
    }
    let shared = Arc::new(Shared {
        data,
        frames,
        claimed: AtomicU64::new(0),
        written: AtomicU64::new(0),
        sample_rate,
    });
    (CaptureWriter { shared: shared.clone() }, CaptureReader { shared })
}

/// The audio thread's end: [`CaptureWriter::write`] is wait-free and allocation-free.
pub struct CaptureWriter {
    shared: Arc<Shared>,
}

impl CaptureWriter {
    /// Append one block of stereo input (the shorter slice's length is used).
    pub fn write(&mut self, left: &[f32], right: &[f32]) {
        let s = &*self.shared;
        let n = left.len().min(right.len());
        // Only this thread stores the counters, so a relaxed load reads its own last store.
        let mut pos = s.written.load(Ordering::Relaxed);
        let mut start = 0;
        while start < n {
            let end = (start + CHUNK).min(n);
            s.claimed.store(pos + (end - start) as u64, Ordering::Relaxed);
            // Orders the claim before the data stores below (seqlock writer).
            fence(Ordering::Release);
            let mut slot = (pos % s.frames as u64) as usize;
            for (l, r) in left[start..end].iter().zip(&right[start..end]) {
                s.data[2 * slot].store(l.to_bits(), Ordering::Relaxed);
                s.data[2 * slot + 1].store(r.to_bits(), Ordering::Relaxed);
                slot += 1;
                if slot == s.frames {
                    slot = 0;
                }
            }
            pos += (end - start) as u64;
            s.written.store(pos, Ordering::Release);
            start = end;
        }
    }
}

/// The control side's end: copies out recent input. Cloneable; any thread.
#[derive(Clone)]
pub struct CaptureReader {
    shared: Arc<Shared>,
}

impl CaptureReader {
    /// Frames written since the start.
    pub fn frames_heard(&self) -> u64 {
        self.shared.written.load(Ordering::Acquire)
    }

    /// Length of the ring in frames.
    pub fn capacity_frames(&self) -> usize {
        self.shared.frames
    }

    /// The sample rate the ring was made for.
    pub fn sample_rate(&self) -> u32 {
        self.shared.sample_rate
    }

    /// The last `frames` frames of input, as (left, right).
    pub fn last_frames(&self, frames: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let s = &*self.shared;
        let sr = s.sample_rate.max(1) as f64;
        if frames > s.frames {
            return Err(Error::invalid(
                format!(
                    "asked for {:.2} s of input but the capture history holds {:.2} s",
                    frames as f64 / sr,
                    s.frames as f64 / sr
                ),
                "ask for less, or raise engine.capture_seconds in the config",
            ));
        }
        let (mut l, mut r) = (vec![0.0f32; frames], vec![0.0f32; frames]);
        for _ in 0..RETRIES {
            let end = s.written.load(Ordering::Acquire);
            if end < frames as u64 {
                return Err(Error::invalid(
                    format!(
                        "asked for {:.2} s of input but the engine has heard only {:.2} s so far",
                        frames as f64 / sr,
                        end as f64 / sr
                    ),
                    "wait until enough input has played, or ask for a shorter segment",
                ));
            }
            let first = end - frames as u64;
            let mut slot = (first % s.frames as u64) as usize;
            for i in 0..frames {
                l[i] = f32::from_bits(s.data[2 * slot].load(Ordering::Relaxed));
                r[i] = f32::from_bits(s.data[2 * slot + 1].load(Ordering::Relaxed));
                slot += 1;
                if slot == s.frames {
                    slot = 0;
                }
            }
            // Seqlock reader: the data loads above happen before this check.
            fence(Ordering::Acquire);
            let claimed = s.claimed.load(Ordering::Relaxed);
            // The oldest copied frame's slot is reused by frame `first + capacity`.
            if claimed <= first + s.frames as u64 {
                return Ok((l, r));
            }
        }
        Err(Error::invalid(
            "the audio thread overwrote the capture history faster than it could be copied",
            "raise engine.capture_seconds so the history is longer than the segment asked for",
        ))
    }

    /// The last `seconds` of input as a stereo buffer.
    pub fn last(&self, seconds: f32) -> Result<AudioBuffer> {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(Error::invalid(
                format!("capture length {seconds} s is not a positive number of seconds"),
                "ask for a positive duration, e.g. 3 s",
            ));
        }
        let frames = (seconds as f64 * self.shared.sample_rate as f64).round() as usize;
        let (l, r) = self.last_frames(frames.max(1))?;
        Ok(AudioBuffer::stereo(self.shared.sample_rate, l, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(from: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
        ((from..from + n).map(|i| i as f32).collect(), (from..from + n).map(|i| -(i as f32)).collect())
    }

    #[test]
    fn last_n_is_exact_across_wraparound() {
        let (mut w, r) = capture_ring(1000, 1.0); // 1000 frames
        let mut fed = 0;
        for block in [7, 300, 999, 1000, 1, 2500, 33] {
            let (l, rr) = ramp(fed, block);
            assert_no_alloc::assert_no_alloc(|| w.write(&l, &rr));
            fed += block;
            for n in [1, 17, 999, 1000] {
                if n > fed {
                    assert!(r.last_frames(n).is_err());
                    continue;
                }
                let (l, rr) = r.last_frames(n).unwrap();
                let expect = ramp(fed - n, n);
                assert_eq!(l, expect.0, "fed {fed}, n {n}");
                assert_eq!(rr, expect.1);
            }
        }
        assert_eq!(r.frames_heard(), fed as u64);
    }

    #[test]
    fn errors_say_how_much_and_the_fix() {
        let (mut w, r) = capture_ring(1000, 2.0);
        w.write(&[0.0; 500], &[0.0; 500]);
        let e = r.last(1.0).unwrap_err().to_string();
        assert!(e.contains("heard only 0.50 s"), "{e}");
        let e = r.last(3.0).unwrap_err().to_string();
        assert!(e.contains("holds 2.00 s") && e.contains("capture_seconds"), "{e}");
        assert!(r.last(f32::NAN).is_err());
    }

    #[test]
    fn overrun_while_copying_is_detected() {
        // Simulate a writer that lapped the ring between the copy and the check by bumping
        // `claimed` by hand: the reader must not return the torn copy.
        let (mut w, r) = capture_ring(100, 1.0);
        w.write(&[1.0; 100], &[1.0; 100]);
        r.shared.claimed.store(100 + 50, Ordering::Relaxed);
        assert!(r.last_frames(100).unwrap_err().to_string().contains("overwrote"));
        // Asking for fewer frames than the writer ran ahead leaves room: fine.
        assert_eq!(r.last_frames(50).unwrap().0.len(), 50);
    }

    #[test]
    fn concurrent_writer_never_yields_torn_copies() {
        // The writer writes frame i as value i; any copy must be a run of consecutive values.
        let (mut w, r) = capture_ring(48_000, 0.05); // 2400 frames: laps often
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let t = std::thread::spawn(move || {
            let mut i = 0usize;
            let mut buf = vec![0.0f32; 64];
            while !stop2.load(Ordering::Relaxed) {
                for (k, v) in buf.iter_mut().enumerate() {
                    *v = ((i + k) % (1 << 23)) as f32;
                }
                w.write(&buf, &buf);
                i += 64;
            }
        });
        let (mut ok, mut overrun) = (0, 0);
        for _ in 0..2000 {
            match r.last_frames(2000) {
                Ok((l, _)) => {
                    assert!(l.windows(2).all(|p| p[1] == p[0] + 1.0 || p[1] == 0.0), "torn copy");
                    ok += 1;
                }
                Err(e) if e.to_string().contains("overwrote") => overrun += 1,
                Err(_) => {}
            }
        }
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        println!("{ok} clean copies, {overrun} overruns detected");
    }
}
