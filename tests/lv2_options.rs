//! The `options` feature as plugins see it: a small C plugin, built here against the system LV2
//! headers, reads `buf-size#nominalBlockLength`, `#maxBlockLength` and `parameters#sampleRate`
//! from the options at instantiation and writes them out as DC levels, so the test reads back
//! exactly what fxmatch handed it. A second URI in the same bundle requires an option fxmatch
//! does not give and must be refused by name.
//!
//! Its own test binary: the plugin's bundle has to be on `LV2_PATH` before the process loads its
//! (process-wide) lilv world.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use fxmatch::chain::{Chain, ChainSpec};

const READER: &str = "urn:fxmatch:test:options-reader";
const NEEDY: &str = "urn:fxmatch:test:needs-frobnication";

const PLUGIN_C: &str = r#"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lv2/core/lv2.h>
#include <lv2/urid/urid.h>
#include <lv2/options/options.h>
#include <lv2/buf-size/buf-size.h>
#include <lv2/parameters/parameters.h>
#include <lv2/atom/atom.h>

typedef struct { const float* in[2]; float* out[2]; float nominal, max, rate; } Reader;

static LV2_Handle instantiate(const LV2_Descriptor* d, double rate, const char* path,
                              const LV2_Feature* const* features) {
    Reader* r = calloc(1, sizeof(Reader));
    const LV2_URID_Map* map = NULL;
    const LV2_Options_Option* opts = NULL;
    for (int i = 0; features && features[i]; ++i) {
        if (!strcmp(features[i]->URI, LV2_URID__map)) map = features[i]->data;
        if (!strcmp(features[i]->URI, LV2_OPTIONS__options)) opts = features[i]->data;
    }
    if (!map || !opts) return r; /* everything reads 0: the test names what is missing */
    LV2_URID nominal = map->map(map->handle, LV2_BUF_SIZE__nominalBlockLength);
    LV2_URID max = map->map(map->handle, LV2_BUF_SIZE__maxBlockLength);
    LV2_URID srate = map->map(map->handle, LV2_PARAMETERS__sampleRate);
    LV2_URID a_int = map->map(map->handle, LV2_ATOM__Int);
    LV2_URID a_float = map->map(map->handle, LV2_ATOM__Float);
    for (const LV2_Options_Option* o = opts; o->key; ++o) {
        if (o->key == nominal && o->type == a_int) r->nominal = (float)*(const int32_t*)o->value;
        if (o->key == max && o->type == a_int) r->max = (float)*(const int32_t*)o->value;
        if (o->key == srate && o->type == a_float) r->rate = *(const float*)o->value;
    }
    return r;
}

static void connect_port(LV2_Handle h, uint32_t port, void* data) {
    Reader* r = h;
    if (port < 2) r->in[port] = data; else r->out[port - 2] = data;
}

/* Left: nominal block length / 2^16 (+ max block length / 2^24); right: sample rate / 10^6. */
static void run(LV2_Handle h, uint32_t n) {
    Reader* r = h;
    for (uint32_t i = 0; i < n; ++i) {
        r->out[0][i] = r->nominal / 65536.0f + r->max / 16777216.0f;
        r->out[1][i] = r->rate / 1.0e6f;
    }
}

static void cleanup(LV2_Handle h) { free(h); }

static const LV2_Descriptor reader = {
    "urn:fxmatch:test:options-reader", instantiate, connect_port, NULL, run, NULL, cleanup, NULL };
static const LV2_Descriptor needy = {
    "urn:fxmatch:test:needs-frobnication", instantiate, connect_port, NULL, run, NULL, cleanup, NULL };

LV2_SYMBOL_EXPORT const LV2_Descriptor* lv2_descriptor(uint32_t index) {
    return index == 0 ? &reader : index == 1 ? &needy : NULL;
}
"#;

fn plugin_ttl(uri: &str, extra: &str) -> String {
    format!(
        r#"@prefix lv2: <http://lv2plug.in/ns/lv2core#> .
@prefix opts: <http://lv2plug.in/ns/ext/options#> .
@prefix urid: <http://lv2plug.in/ns/ext/urid#> .
<{uri}> a lv2:Plugin ;
    lv2:binary <options_reader.so> ;
    <http://usefulinc.com/ns/doap#name> "fxmatch options reader" ;
    lv2:requiredFeature urid:map , opts:options ;
    opts:supportedOption <http://lv2plug.in/ns/ext/buf-size#nominalBlockLength> ,
        <http://lv2plug.in/ns/ext/parameters#sampleRate> ;
    {extra}
    lv2:port [ a lv2:InputPort , lv2:AudioPort ; lv2:index 0 ; lv2:symbol "in_l" ; lv2:name "In L" ] ,
        [ a lv2:InputPort , lv2:AudioPort ; lv2:index 1 ; lv2:symbol "in_r" ; lv2:name "In R" ] ,
        [ a lv2:OutputPort , lv2:AudioPort ; lv2:index 2 ; lv2:symbol "out_l" ; lv2:name "Out L" ] ,
        [ a lv2:OutputPort , lv2:AudioPort ; lv2:index 3 ; lv2:symbol "out_r" ; lv2:name "Out R" ] .
"#
    )
}

/// Build the bundle once and put it first on `LV2_PATH` (before the world loads).
fn bundle() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("options-reader.lv2");
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("plugin.c"), PLUGIN_C).unwrap();
        let o = Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(b.join("options_reader.so"))
            .arg(b.join("plugin.c"))
            .output()
            .expect("cc (a C compiler) is needed to build the test plugin");
        assert!(
            o.status.success(),
            "building the test plugin failed (LV2 headers from lv2-dev, scripts/setup.sh installs it):\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let manifest = format!(
            "@prefix lv2: <http://lv2plug.in/ns/lv2core#> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n\
             <{READER}> a lv2:Plugin ; lv2:binary <options_reader.so> ; rdfs:seeAlso <reader.ttl> .\n\
             <{NEEDY}> a lv2:Plugin ; lv2:binary <options_reader.so> ; rdfs:seeAlso <needy.ttl> .\n"
        );
        std::fs::write(b.join("manifest.ttl"), manifest).unwrap();
        std::fs::write(b.join("reader.ttl"), plugin_ttl(READER, "")).unwrap();
        std::fs::write(
            b.join("needy.ttl"),
            plugin_ttl(NEEDY, "opts:requiredOption <http://example.org/options#frobnication> ;"),
        )
        .unwrap();
        let system = std::env::var("LV2_PATH").unwrap_or_else(|_| "/usr/local/lib/lv2:/usr/lib/lv2".into());
        // SAFETY: set once, before any thread of this test binary reads the environment
        // through lilv (the world loads on first use, after this returns).
        unsafe { std::env::set_var("LV2_PATH", format!("{}:{system}", dir.path().display())) };
        dir
    })
    .path()
}

fn chain_of(uri: &str) -> fxmatch::error::Result<Chain> {
    bundle();
    let toml = format!("[[effect]]\ntype = \"lv2\"\nuri = \"{uri}\"\n");
    Chain::from_spec(&ChainSpec::parse(&toml, "inline.toml")?)
}

#[test]
fn plugins_get_nominal_block_length_and_sample_rate_as_options() {
    let mut chain = chain_of(READER).unwrap_or_else(|e| panic!("{e}"));
    for (rate, block) in [(48_000.0f32, 256usize), (44_100.0, 64)] {
        chain.prepare(rate, block);
        chain.reset();
        let (mut l, mut r) = (vec![0.0f32; block], vec![0.0f32; block]);
        chain.process(&mut l, &mut r);
        let expect_left = block as f32 / 65536.0 + block as f32 / 16_777_216.0;
        assert!(
            (l[block - 1] - expect_left).abs() < 1e-7,
            "nominal and max block length {block} should reach the plugin: left {} (0 = option missing)",
            l[block - 1]
        );
        assert!(
            (r[block - 1] - rate / 1e6).abs() < 1e-7,
            "sample rate {rate} should reach the plugin as parameters#sampleRate: right {}",
            r[block - 1]
        );
    }
}

#[test]
fn a_plugin_requiring_an_option_fxmatch_lacks_is_refused_by_name() {
    let e = chain_of(NEEDY).err().expect("a required option fxmatch lacks must be refused").to_string();
    assert!(e.contains("http://example.org/options#frobnication") && e.contains("option"), "{e}");
}
