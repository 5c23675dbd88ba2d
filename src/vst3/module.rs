//! Finding VST3 bundles (the standard Linux search paths) and loading their modules: `dlopen`,
//! `ModuleEntry`, `GetPluginFactory`, and the factory's audio-effect classes.
//!
//! Modules stay loaded for the life of the process (one load per binary, shared by every
//! instance): unloading C++ plugin libraries while their static objects may still be referenced
//! is a common source of crashes, and fxmatch loads a bounded set of plugins.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use vst3::ComPtr;
use vst3::Steinberg::{
    IPluginFactory, IPluginFactory2, IPluginFactory2Trait, IPluginFactoryTrait, PClassInfo, PClassInfo2, TUID,
};

use super::host::read_c;
use super::Vst3Error;

/// The category of audio processor classes in a VST3 factory (`kVstAudioEffectClass`).
pub const AUDIO_EFFECT_CLASS: &str = "Audio Module Class";

/// One audio-processor class of a module.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassInfo {
    /// Class id.
    pub cid: TUID,
    /// The plugin's name.
    pub name: String,
    /// Sub-categories (`Fx|EQ`), when the factory gives them.
    pub sub_categories: String,
    /// Vendor, when the factory gives it.
    pub vendor: String,
    /// Version string, when the factory gives it.
    pub version: String,
}

/// A loaded VST3 module.
pub struct Module {
    /// The bundle (`NAME.vst3`).
    pub bundle: PathBuf,
    /// The shared library inside it.
    pub binary: PathBuf,
    /// The audio-processor classes its factory offers.
    pub classes: Vec<ClassInfo>,
    pub(crate) factory: ComPtr<IPluginFactory>,
    // Never unloaded (see the module documentation); kept so the handle is not leaked silently.
    _library: libloading::Library,
}

static MODULES: Mutex<Vec<Arc<Module>>> = Mutex::new(Vec::new());

/// Serialises factory calls, instantiation and teardown across threads: the VST3 API does not
/// promise that a module's factory and `initialize`/`terminate` are thread-safe, and matcher
/// workers create instances concurrently.
pub(crate) static INSTANTIATE: Mutex<()> = Mutex::new(());

/// The directories searched for bundles by name, in order: `$VST3_PATH` (colon-separated), then
/// the VST3 standard locations on Linux: `~/.vst3`, `/usr/lib/vst3`, `/usr/local/lib/vst3`.
pub fn search_paths() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("VST3_PATH")
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".vst3"));
    }
    dirs.push("/usr/lib/vst3".into());
    dirs.push("/usr/local/lib/vst3".into());
    dirs
}

/// Every `*.vst3` entry in the search paths, sorted by path within each directory.
pub fn installed_bundles() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in search_paths() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "vst3"))
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

/// The module file of a bundle for this machine: `Contents/<arch>-linux/<name>.so`, or the path
/// itself for a single-file module.
pub fn module_binary(bundle: &Path) -> Result<PathBuf, Vst3Error> {
    let shown = bundle.display();
    if !bundle.exists() {
        return Err(Vst3Error::new(
            format!("no VST3 bundle at `{shown}`: no such file or directory"),
            "give the path of an installed NAME.vst3 bundle, or a plugin name from `fxmatch plugins`",
        ));
    }
    if bundle.extension().is_none_or(|x| x != "vst3") {
        return Err(Vst3Error::new(
            format!("`{shown}` is not a VST3 bundle: its name does not end in `.vst3`"),
            "give the path of a NAME.vst3 bundle (an LV2 plugin goes in a chain as `type = \"lv2\"`)",
        ));
    }
    if bundle.is_file() {
        return Ok(bundle.to_path_buf());
    }
    let stem = bundle.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let arch = format!("{}-linux", std::env::consts::ARCH);
    let binary = bundle.join("Contents").join(&arch).join(format!("{stem}.so"));
    if !binary.is_file() {
        return Err(Vst3Error::new(
            format!(
                "VST3 bundle `{shown}` has no module for this machine: `Contents/{arch}/{stem}.so` is missing"
            ),
            format!("install a build of the plugin for {arch}, or reinstall it (the bundle is incomplete)"),
        ));
    }
    Ok(binary)
}

/// Load (or find already loaded) the module of `bundle`.
pub fn load(bundle: &Path) -> Result<Arc<Module>, Vst3Error> {
    let binary = module_binary(bundle)?;
    let binary = binary.canonicalize().unwrap_or(binary);
    let mut modules = MODULES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = modules.iter().find(|m| m.binary == binary) {
        return Ok(m.clone());
    }
    let module = open(bundle, &binary)?;
    let module = Arc::new(module);
    modules.push(module.clone());
    Ok(module)
}

fn open(bundle: &Path, binary: &Path) -> Result<Module, Vst3Error> {
    let shown = binary.display();
    let not_module = |why: String| {
        Vst3Error::new(
            format!("`{}` is not a usable VST3 module: {why}", bundle.display()),
            "check that the bundle is a VST3 plugin built for this machine (`file` on the .so), or reinstall it",
        )
    };
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: loading a plugin library runs its static initialisers; native plugin code is
    // trusted as every VST3 host trusts it. The library stays loaded for the process's life.
    let lib = unsafe { Library::open(Some(binary), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| not_module(format!("loading `{shown}` failed: {e}")))?;
    let handle = lib.into_raw();
    // SAFETY: `handle` came from `into_raw` just above and is taken back exactly once.
    let lib = unsafe { Library::from_raw(handle) };
    // Linux modules export ModuleEntry(handle), which must succeed before the factory is used.
    // SAFETY: the symbol's type is the one the VST3 SDK declares for Linux modules.
    if let Ok(entry) =
        unsafe { lib.get::<unsafe extern "C" fn(*mut std::ffi::c_void) -> bool>(b"ModuleEntry\0") }
    {
        // SAFETY: called once per load with the library's own handle, as the SDK requires.
        if !unsafe { entry(handle) } {
            return Err(not_module("its ModuleEntry returned false".into()));
        }
    }
    // SAFETY: the symbol's type is the one the VST3 SDK declares (`GetPluginFactory`).
    let get_factory =
        unsafe { lib.get::<unsafe extern "system" fn() -> *mut IPluginFactory>(b"GetPluginFactory\0") }
            .map_err(|_| not_module("it exports no `GetPluginFactory`".into()))?;
    // SAFETY: GetPluginFactory returns an owned reference (the SDK's hosts take it with
    // `owned`), or null.
    let factory = unsafe { ComPtr::from_raw(get_factory()) }
        .ok_or_else(|| not_module("its GetPluginFactory returned no factory".into()))?;
    let classes = classes(&factory);
    Ok(Module {
        bundle: bundle.to_path_buf(),
        binary: binary.to_path_buf(),
        classes,
        factory,
        _library: lib.into(),
    })
}

fn classes(factory: &ComPtr<IPluginFactory>) -> Vec<ClassInfo> {
    let _guard = INSTANTIATE.lock().unwrap_or_else(|e| e.into_inner());
    let factory2 = factory.cast::<IPluginFactory2>();
    // SAFETY: plain factory queries into zeroed structs of the SDK's layout (PClassInfo and
    // PClassInfo2 are plain C structs, all-zero is a valid value).
    unsafe {
        let n = factory.countClasses();
        let mut out = Vec::new();
        for i in 0..n.max(0) {
            let mut info: PClassInfo = std::mem::zeroed();
            if factory.getClassInfo(i, &mut info) != vst3::Steinberg::kResultOk {
                continue;
            }
            if read_c(&info.category) != AUDIO_EFFECT_CLASS {
                continue;
            }
            let mut c = ClassInfo {
                cid: info.cid,
                name: read_c(&info.name),
                sub_categories: String::new(),
                vendor: String::new(),
                version: String::new(),
            };
            if let Some(f2) = &factory2 {
                let mut info2: PClassInfo2 = std::mem::zeroed();
                if f2.getClassInfo2(i, &mut info2) == vst3::Steinberg::kResultOk {
                    c.sub_categories = read_c(&info2.subCategories);
                    c.vendor = read_c(&info2.vendor);
                    c.version = read_c(&info2.version);
                }
            }
            out.push(c);
        }
        out
    }
}

/// A plugin named by a chain file: a bundle path (anything with a `/` or ending in `.vst3`),
/// or a plugin name (the class name, or the bundle's name without `.vst3`, any case) looked
/// up in [`search_paths`].
pub fn find(reference: &str) -> Result<(Arc<Module>, ClassInfo), Vst3Error> {
    let pick = |module: Arc<Module>, name: Option<&str>| -> Result<(Arc<Module>, ClassInfo), Vst3Error> {
        let class = match (module.classes.as_slice(), name) {
            ([], _) => {
                return Err(Vst3Error::new(
                    format!(
                        "VST3 bundle `{}` offers no audio effect (its factory has no `{AUDIO_EFFECT_CLASS}`)",
                        module.bundle.display()
                    ),
                    "choose an effect plugin: `fxmatch plugins` lists them",
                ))
            }
            ([only], _) => only.clone(),
            (many, Some(n)) if many.iter().any(|c| c.name.eq_ignore_ascii_case(n)) => many
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(n))
                .cloned()
                .unwrap_or_else(|| many[0].clone()),
            (many, _) => {
                let names: Vec<&str> = many.iter().map(|c| c.name.as_str()).collect();
                return Err(Vst3Error::new(
                    format!(
                        "VST3 bundle `{}` holds several plugins: {}",
                        module.bundle.display(),
                        names.join(", ")
                    ),
                    "name one of them: `plugin = \"NAME\"`",
                ));
            }
        };
        Ok((module, class))
    };
    if reference.contains('/') || reference.ends_with(".vst3") {
        return pick(load(Path::new(reference))?, None);
    }
    let bundles = installed_bundles();
    // The bundle named like the plugin first: loading every module to read names is slow.
    for b in &bundles {
        if b.file_stem().is_some_and(|s| s.to_string_lossy().eq_ignore_ascii_case(reference)) {
            if let Ok(m) = load(b) {
                if m.classes.len() == 1 || m.classes.iter().any(|c| c.name.eq_ignore_ascii_case(reference)) {
                    return pick(m, Some(reference));
                }
            }
        }
    }
    for b in &bundles {
        if let Ok(m) = load(b) {
            if m.classes.iter().any(|c| c.name.eq_ignore_ascii_case(reference)) {
                return pick(m, Some(reference));
            }
        }
    }
    let dirs: Vec<String> = search_paths().iter().map(|p| p.display().to_string()).collect();
    Err(Vst3Error::new(
        format!("no VST3 plugin `{reference}` is installed (searched {})", dirs.join(", ")),
        "give the bundle's path (`plugin = \"/path/NAME.vst3\"`) or a name from `fxmatch plugins`; \
         Debian's zam-plugins package installs the Zam VST3 plugins",
    ))
}
