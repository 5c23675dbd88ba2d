//! Audio buffers, WAV files and a plain spectral distance between signals.

pub mod spectrum;
mod wav;

pub use spectrum::{hann, log_spectral_distance};
pub use wav::{
    read_wav, read_wav_capped, write_wav, SampleFormat, WavReader, WavWriter, MAX_WAV_DATA_BYTES,
    MAX_WHOLE_FILE_FRAMES,
};

/// Stereo audio that arrives block by block, of a length known up front (a WAV header's), so
/// that long files are processed in constant memory. Mono sources give the same signal twice.
pub trait StereoSource {
    /// Frames per second.
    fn sample_rate(&self) -> u32;

    /// Total frames (from the start, not what is left).
    fn frames(&self) -> u64;

    /// Read the next frames into `left` and `right` (equally long); returns how many, fewer
    /// than asked only at the end.
    fn read_stereo(&mut self, left: &mut [f32], right: &mut [f32]) -> crate::Result<usize>;
}

/// Two channels in memory as a [`StereoSource`].
pub struct SliceSource<'a> {
    left: &'a [f32],
    right: &'a [f32],
    sample_rate: u32,
    position: usize,
}

impl<'a> SliceSource<'a> {
    /// A source over `left` and `right` (equally long).
    pub fn new(left: &'a [f32], right: &'a [f32], sample_rate: u32) -> Self {
        assert_eq!(left.len(), right.len(), "channels of equal length");
        Self { left, right, sample_rate, position: 0 }
    }
}

impl StereoSource for SliceSource<'_> {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn frames(&self) -> u64 {
        self.left.len() as u64
    }

    fn read_stereo(&mut self, left: &mut [f32], right: &mut [f32]) -> crate::Result<usize> {
        let n = left.len().min(self.left.len() - self.position);
        left[..n].copy_from_slice(&self.left[self.position..self.position + n]);
        right[..n].copy_from_slice(&self.right[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

/// Multichannel audio, one `Vec` per channel (planar), in `[-1, 1]` full scale.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioBuffer {
    /// Frames per second.
    pub sample_rate: u32,
    /// One vector per channel, all the same length.
    pub channels: Vec<Vec<f32>>,
}

impl AudioBuffer {
    /// Silence: `channels` channels of `frames` frames.
    pub fn silence(sample_rate: u32, channels: usize, frames: usize) -> Self {
        Self { sample_rate, channels: vec![vec![0.0; frames]; channels] }
    }

    /// A stereo buffer from two channels.
    pub fn stereo(sample_rate: u32, left: Vec<f32>, right: Vec<f32>) -> Self {
        Self { sample_rate, channels: vec![left, right] }
    }

    /// Frames per channel.
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// Number of channels.
    pub fn num_channels(&self) -> usize {
        self.channels.len()
    }

    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames() as f64 / self.sample_rate.max(1) as f64
    }

    /// Left and right channels (a mono buffer is duplicated).
    pub fn to_stereo(&self) -> (Vec<f32>, Vec<f32>) {
        match self.channels.len() {
            0 => (Vec::new(), Vec::new()),
            1 => (self.channels[0].clone(), self.channels[0].clone()),
            _ => (self.channels[0].clone(), self.channels[1].clone()),
        }
    }

    /// Left and right channels without copying (a mono buffer's one channel twice).
    pub fn stereo_slices(&self) -> (&[f32], &[f32]) {
        match self.channels.len() {
            0 => (&[], &[]),
            1 => (&self.channels[0], &self.channels[0]),
            _ => (&self.channels[0], &self.channels[1]),
        }
    }

    /// Largest absolute sample value.
    pub fn peak(&self) -> f32 {
        self.channels.iter().flatten().fold(0.0f32, |m, &x| m.max(x.abs()))
    }

    /// Root-mean-square level over all channels.
    pub fn rms(&self) -> f32 {
        let n: usize = self.channels.iter().map(Vec::len).sum();
        if n == 0 {
            return 0.0;
        }
        let sum: f64 = self.channels.iter().flatten().map(|&x| (x as f64) * (x as f64)).sum();
        (sum / n as f64).sqrt() as f32
    }
}

/// Deterministic white noise in `[-amp, amp]` (xorshift64, so tests, examples and the LV2 probe
/// need no random-number crate and get the same signal for the same `seed`).
pub fn white_noise(frames: usize, amp: f32, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..frames)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amp
        })
        .collect()
}
