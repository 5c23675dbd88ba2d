//! Flush-to-zero guard: denormal numbers make recursive filters and reverbs crawl.

/// While alive, the current thread's FPU flushes denormals to zero (x86-64: MXCSR FTZ and DAZ;
/// aarch64: FPCR.FZ). The previous mode is restored on drop. Create one at the top of every
/// audio callback and offline render loop.
pub struct DenormalGuard {
    #[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), allow(dead_code))]
    saved: u64,
}

impl DenormalGuard {
    /// Switch the current thread to flush-to-zero.
    #[inline]
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let mut csr: u32 = 0;
            // SAFETY: stmxcsr/ldmxcsr read and write this thread's SSE control register, which
            // every x86-64 CPU has; setting FTZ (bit 15) and DAZ (bit 6) only changes how
            // denormal results are rounded, never memory.
            unsafe {
                std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
                let new = csr | 0x8040;
                std::arch::asm!("ldmxcsr [{}]", in(reg) &new, options(nostack));
            }
            Self { saved: csr as u64 }
        }
        #[cfg(target_arch = "aarch64")]
        {
            let fpcr: u64;
            // SAFETY: reading and writing FPCR only affects this thread's floating-point mode;
            // bit 24 (FZ) flushes denormals to zero.
            unsafe {
                std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack));
                std::arch::asm!("msr fpcr, {}", in(reg) fpcr | (1 << 24), options(nomem, nostack));
            }
            Self { saved: fpcr }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            Self { saved: 0 }
        }
    }
}

impl Default for DenormalGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for DenormalGuard {
    #[inline]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        {
            let csr = self.saved as u32;
            // SAFETY: restores the value read in `new` on this same thread.
            unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack)) };
        }
        #[cfg(target_arch = "aarch64")]
        {
            // SAFETY: restores the value read in `new` on this same thread.
            unsafe { std::arch::asm!("msr fpcr, {}", in(reg) self.saved, options(nomem, nostack)) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denormals_flush_inside_guard_only() {
        let tiny = std::hint::black_box(f32::MIN_POSITIVE);
        {
            let _g = DenormalGuard::new();
            assert_eq!(std::hint::black_box(tiny) / std::hint::black_box(4.0f32), 0.0);
        }
        assert!(std::hint::black_box(tiny) / std::hint::black_box(4.0f32) > 0.0);
    }
}
