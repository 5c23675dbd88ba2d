//! Commands: each [`Command`] done and answered with a typed [`Reply`]; a batch of queued
//! commands with parameter changes coalesced; the saved state written debounced.

use std::path::PathBuf;
use std::time::Instant;

use super::matching::Request;
use super::protocol::{list_page, Client, Command, List, Reply};
use super::Daemon;
use crate::config::CaptureMode;
use crate::error::{Error, Result};
use crate::metric::Embedding;

impl Daemon {
    /// Do a batch of queued commands in order. A parameter set that a later one in the same
    /// batch overrides is checked and answered but not sent to the engine: a flood of changes
    /// moves the audio once, to the last value.
    pub(super) fn handle_batch(&mut self, batch: &mut Vec<(Command, Client)>) {
        let n = batch.len();
        for i in 0..n {
            let (command, client) = &batch[i];
            let overridden = match command {
                Command::ParamSet(e, p, _) => batch[i + 1..]
                    .iter()
                    .any(|(c, _)| matches!(c, Command::ParamSet(e2, p2, _) if e2 == e && p2 == p)),
                _ => false,
            };
            let client = *client;
            let reply = match command {
                Command::ParamSet(effect, param, value) if overridden => {
                    match self.audio.settings().check_plain(effect, param, *value) {
                        Ok(_) => Reply::Param { effect: effect.clone(), param: param.clone(), value: *value },
                        Err(e) => Reply::error(e),
                    }
                }
                _ => self.handle(command.clone(), client),
            };
            self.send(client, reply);
        }
        batch.clear();
    }

    /// Do one command; the reply goes to its sender.
    pub fn handle(&mut self, command: Command, client: Client) -> Reply {
        match self.try_handle(command, client) {
            Ok(reply) => reply,
            Err(e) => Reply::error(e),
        }
    }

    fn try_handle(&mut self, command: Command, client: Client) -> Result<Reply> {
        Ok(match command {
            Command::Match(name) => {
                let (reference, embedding, clips) = self.selected(name)?;
                if self.state.reference.as_deref() != Some(&reference) {
                    self.state.reference = Some(reference.clone());
                    self.state_changed();
                }
                if self.state_dirty.is_some() {
                    self.save_state(); // a match may take long: what was set before it is kept
                }
                let request = Request {
                    client,
                    reference: reference.clone(),
                    embedding,
                    clips,
                    triggered: Instant::now(),
                };
                self.trigger(request, self.config.capture_mode == CaptureMode::Next)?;
                Reply::ok("match", &[&reference])
            }
            Command::Cancel => {
                let was = self.cancel();
                Reply::ok("cancel", &[was.name()])
            }
            Command::Status => Reply::Status {
                phase: self.activity.phase(),
                progress: self.activity.progress(),
                similarity: self.last_similarity,
                reference: self.state.reference.clone(),
                bypass: self.state.bypass,
            },
            Command::Stats => {
                let total = self.connection.total(self.audio.stats());
                Reply::Stats {
                    blocks: total.blocks,
                    overruns: total.overruns,
                    xruns: total.xruns,
                    peak_load: total.peak_load,
                    connected: self.connection.is_up() && self.audio.is_running(),
                    reconnects: self.connection.reconnects(),
                    mean_load: total.mean_load,
                }
            }
            Command::StatsReset => {
                self.audio.reset_load();
                self.connection.reset_load();
                Reply::ok("stats/reset", &[])
            }
            Command::ReferenceList(offset) => {
                let names: Vec<String> = self.refs.list().iter().map(|r| r.name.clone()).collect();
                self.list_reply(List::References, &names, offset, client)
            }
            Command::ReferenceSelect(name) => {
                self.refs.get(&name)?;
                self.state.reference = Some(name.clone());
                self.state_changed();
                Reply::ok("reference/select", &[&name])
            }
            Command::ReferenceNext => {
                let name = self.refs.next_name(self.state.reference.as_deref()).ok_or_else(|| {
                    Error::invalid("the reference library is empty", "add a WAV or learn one (reference/add)")
                })?;
                self.state.reference = Some(name.clone());
                self.state_changed();
                Reply::ok("reference/select", &[&name])
            }
            Command::ReferenceAdd(name) => {
                let audio = self.capture()?;
                self.refs.add(&name, &audio)?;
                Reply::ok("reference/add", &[&name])
            }
            Command::ReferenceRemove(name) => {
                self.refs.remove(&name)?;
                if self.state.reference.as_deref() == Some(&name) {
                    self.state.reference = self.refs.next_name(None);
                    self.state_changed();
                }
                Reply::ok("reference/remove", &[&name])
            }
            Command::Bypass(effect, on) => {
                self.audio.set_bypass(effect.as_deref(), on)?;
                match &effect {
                    None => self.state.bypass = on,
                    Some(e) if on => {
                        self.state.bypassed_effects.insert(e.clone());
                    }
                    Some(e) => {
                        self.state.bypassed_effects.remove(e);
                    }
                }
                self.state_changed();
                let what = effect.unwrap_or_else(|| "chain".into());
                Reply::ok("bypass", &[&what, if on { "1" } else { "0" }])
            }
            Command::BypassToggle => {
                return self.try_handle(Command::Bypass(None, !self.state.bypass), client)
            }
            Command::ParamGet(effect, param) => {
                let value = self.audio.param(&effect, &param)?;
                Reply::Param { effect, param, value }
            }
            Command::ParamSet(effect, param, value) => {
                // The engine checks the value (its errors name the range) and keeps it.
                self.audio.set_param(&effect, &param, value)?;
                self.state_changed();
                Reply::Param { effect, param, value }
            }
            Command::PresetSave(name) => {
                let path = self.presets.save(&name, &self.audio.settings().params())?;
                Reply::ok("preset/save", &[&name, &path.display().to_string()])
            }
            Command::PresetLoad(name) => {
                let params = self.presets.load(&name, self.audio.settings())?;
                let mut next = self.audio.settings().clone();
                next.apply_params(&params)?;
                self.audio.crossfade_to(&next)?;
                self.state_changed();
                Reply::ok("preset/load", &[&name])
            }
            Command::PresetList(offset) => {
                let names = self.presets.list()?;
                self.list_reply(List::Presets, &names, offset, client)
            }
        })
    }

    /// A list's page from `offset`: the page is sent, and when more follow the returned reply is
    /// `/fxmatch/list/more LIST NEXT TOTAL` (else the page itself is returned).
    fn list_reply(&self, list: List, names: &[String], offset: usize, client: Client) -> Reply {
        let (page, next) = list_page(names, offset);
        let page = Reply::List { list, names: page.to_vec() };
        let Some(next) = next else { return page };
        self.send(client, page);
        Reply::ListMore { list, next, total: names.len() }
    }

    fn selected(&self, name: Option<String>) -> Result<(String, Embedding, Vec<PathBuf>)> {
        let name = name.or_else(|| self.state.reference.clone()).ok_or_else(|| {
            Error::invalid(
                format!("no reference to match: {} holds no WAV", self.refs.dir().display()),
                "copy a reference WAV into that folder, or learn one with /fxmatch/reference/add NAME",
            )
        })?;
        let r = self.refs.get(&name)?;
        Ok((r.name.clone(), r.embedding.clone(), r.clips.clone()))
    }

    /// Write the state now (at exit, before a match, when the debounce delay is over).
    pub(super) fn save_state(&mut self) {
        self.state_dirty = None;
        self.state.params = self.audio.settings().params();
        if let Err(e) = self.presets.save_state(&self.state) {
            tracing::error!("state not saved: {e}");
        }
    }

    /// Note a change of the state; it is written within [`super::STATE_WRITE_DELAY`].
    fn state_changed(&mut self) {
        self.state_dirty.get_or_insert_with(Instant::now);
    }
}
