//! What the daemon is asked ([`Command`]) and what it answers ([`Reply`]), as types. The OSC
//! encoding of both lives in `crate::control::osc` alone.

use std::net::SocketAddr;

use super::config::Action;

/// Who sent a command (replies go there); `None` for the footswitch.
pub type Client = Option<SocketAddr>;

/// What the daemon can be asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Capture and match against `reference` (or the selected one).
    Match(Option<String>),
    /// Cancel a capture or match in progress (nothing is applied).
    Cancel,
    /// State, progress, last similarity, reference, bypass.
    Status,
    /// The engine's counters: blocks, callback overruns, server xruns, peak load, connection,
    /// reconnects, mean load.
    Stats,
    /// Start the load figures (peak and mean) afresh.
    StatsReset,
    /// Reference names, from this offset (a long list comes in pages: see [`LIST_PAGE_BYTES`]).
    ReferenceList(usize),
    /// Select a reference for the next match.
    ReferenceSelect(String),
    /// Select the next reference (wrapping).
    ReferenceNext,
    /// Learn the live input (the last capture-seconds) as a new reference.
    ReferenceAdd(String),
    /// Delete a reference.
    ReferenceRemove(String),
    /// Bypass (true) or enable the whole chain (`None`) or one effect.
    Bypass(Option<String>, bool),
    /// Toggle the whole chain's bypass (the footswitch).
    BypassToggle,
    /// A parameter's value in plain units.
    ParamGet(String, String),
    /// Set a parameter in plain units.
    ParamSet(String, String, f32),
    /// Save the current parameters as a preset.
    PresetSave(String),
    /// Load a preset into the running chain.
    PresetLoad(String),
    /// Preset names, from this offset (a long list comes in pages: see [`LIST_PAGE_BYTES`]).
    PresetList(usize),
}

impl From<Action> for Command {
    /// The command a footswitch action (MIDI or GPIO) sends.
    fn from(action: Action) -> Self {
        match action {
            Action::Match => Command::Match(None),
            Action::NextReference => Command::ReferenceNext,
            Action::Bypass => Command::BypassToggle,
            Action::Cancel => Command::Cancel,
        }
    }
}

/// Where the daemon is, as `/fxmatch/status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a trigger.
    Idle,
    /// Recording the next N seconds.
    Capturing,
    /// Searching.
    Matching,
}

impl Phase {
    /// The name `/fxmatch/status` reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Capturing => "capturing",
            Phase::Matching => "matching",
        }
    }
}

/// A list the daemon pages out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// Reference names.
    References,
    /// Preset names.
    Presets,
}

/// Why a match ended without a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aborted {
    /// A newer trigger (from another client) replaced it.
    Superseded,
    /// `/fxmatch/cancel`.
    Cancelled,
}

/// A message from the daemon (or from the OSC layer itself), to a command's sender and the
/// subscribers. Each variant is one OSC address under `/fxmatch/` (see docs/osc.md).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `ok COMMAND [details…]`: a command without data to return was done.
    Ok {
        /// The command's address, e.g. `preset/load`.
        command: &'static str,
        /// What it was done to, e.g. the preset's name.
        details: Vec<String>,
    },
    /// `error MESSAGE`: what went wrong and the fix, in one line.
    Error(String),
    /// `status`: phase, progress 0–1, last similarity (NaN before the first), selected
    /// reference (`""` if none), whole-chain bypass.
    Status {
        /// Where the daemon is.
        phase: Phase,
        /// The running match's progress, 0–1.
        progress: f32,
        /// The last match's similarity.
        similarity: Option<f32>,
        /// The selected reference.
        reference: Option<String>,
        /// Whether the whole chain is bypassed.
        bypass: bool,
    },
    /// `stats`: the engine's counters over the daemon's life.
    Stats {
        /// Blocks processed.
        blocks: u64,
        /// Callbacks over their real-time budget.
        overruns: u64,
        /// Xruns the server reported.
        xruns: u64,
        /// Largest share of a block's budget used by one callback.
        peak_load: f32,
        /// Whether the backend runs (not lost to an outage).
        connected: bool,
        /// Successful reconnects since start.
        reconnects: u32,
        /// Mean load since the start or the last reset.
        mean_load: f32,
    },
    /// `param EFFECT PARAM VALUE`: a parameter's value in plain units.
    Param {
        /// Effect id.
        effect: String,
        /// Parameter id.
        param: String,
        /// Plain value.
        value: f32,
    },
    /// `reference/list NAME…` or `preset/list NAME…`: one page of a list.
    List {
        /// Which list.
        list: List,
        /// The page's names.
        names: Vec<String>,
    },
    /// `list/more LIST NEXT TOTAL`: the page just sent is not the last; the next starts at
    /// `next`.
    ListMore {
        /// Which list.
        list: List,
        /// Offset of the next page.
        next: usize,
        /// Names in the whole list.
        total: usize,
    },
    /// `progress`: a running match's progress.
    Progress {
        /// Generations done over the most, 0–1.
        progress: f32,
        /// Best similarity so far.
        best_similarity: f32,
        /// Generations done.
        generation: usize,
        /// Most generations.
        max_generations: usize,
    },
    /// `result`: a match applied.
    Result {
        /// Similarity reached.
        similarity: f32,
        /// The reference matched.
        reference: String,
        /// Similarity of the input before the match.
        from: f32,
        /// Chain evaluations spent.
        evaluations: usize,
        /// Seconds from the trigger to the applied result.
        latency: f32,
    },
    /// `aborted REASON`: a match ended without a result.
    Aborted(Aborted),
    /// `pong`: the answer to a ping (OSC layer).
    Pong,
    /// `auth`: authenticate first (OSC layer, with `[osc] secret`).
    AuthRequired,
    /// `authenticated [NOTE]`: the secret matched, or there is none (`NOTE` says so).
    Authenticated(Option<&'static str>),
    /// `subscribed HOST:PORT` (OSC layer).
    Subscribed(SocketAddr),
    /// `unsubscribed HOST:PORT` (OSC layer).
    Unsubscribed(SocketAddr),
}

impl Reply {
    /// `ok COMMAND [details…]`.
    pub fn ok(command: &'static str, details: &[&str]) -> Self {
        Reply::Ok { command, details: details.iter().map(|d| d.to_string()).collect() }
    }

    /// `error MESSAGE`: the message on one line.
    pub fn error(message: impl std::fmt::Display) -> Self {
        Reply::Error(message.to_string().replace('\n', " "))
    }
}

/// A reply on its way out: to the command's sender (if any) and to every subscriber.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The sender of the command this answers; `None` for unsolicited news.
    pub to: Client,
    /// The message.
    pub reply: Reply,
}

/// Most bytes of names in one list reply: a page stays under a typical Ethernet MTU (1,500
/// bytes less IP/UDP headers and the OSC address), so no reply is ever fragmented or too large
/// for a datagram; `/fxmatch/list/more` tells the client where the next page starts.
pub const LIST_PAGE_BYTES: usize = 1200;

/// The page of `names` that starts at `offset`: the names that fit [`LIST_PAGE_BYTES`] (at least
/// one), and where the next page starts if any. A name costs its OSC size: the string, its
/// terminating zero, padding to 4 bytes, and its type tag.
pub(crate) fn list_page(names: &[String], offset: usize) -> (&[String], Option<usize>) {
    let rest = names.get(offset..).unwrap_or(&[]);
    let mut bytes = 0;
    let mut n = 0;
    for name in rest {
        bytes += (name.len() + 4) / 4 * 4 + 1;
        if n > 0 && bytes > LIST_PAGE_BYTES {
            break;
        }
        n += 1;
    }
    let next = (offset + n < names.len()).then_some(offset + n);
    (&rest[..n], next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footswitch_actions_map_to_commands() {
        assert_eq!(Command::from(Action::Match), Command::Match(None));
        assert_eq!(Command::from(Action::Bypass), Command::BypassToggle);
        assert_eq!(Command::from(Action::NextReference), Command::ReferenceNext);
        assert_eq!(Command::from(Action::Cancel), Command::Cancel);
    }
}
