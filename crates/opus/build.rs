//! Builds libopus from the vendored source in `libopus/` with the `cc` crate.
//!
//! Why not cmake: `cargo run -- serve` must work on a machine that has only Rust and a C
//! compiler. The source lists come from libopus's own `*_sources.mk` files (the ones its
//! autotools build reads), so updating the vendored tree needs no change here.
//!
//! What it mirrors from libopus's CMake build, for a floating-point library:
//! - `OPUS_BUILD`, `VAR_ARRAYS` (C99 stack arrays; `USE_ALLOCA` on MSVC), `HAVE_LRINT(F)`,
//!   `ENABLE_HARDENING`, `PACKAGE_VERSION` from `libopus/package_version`;
//! - x86/x86_64: SSE and SSE2 presumed (x86_64's baseline), SSE4.1 and AVX2 kernels compiled with
//!   their own flags and chosen at run time (`OPUS_HAVE_RTCD`, `CPU_INFO_BY_C`);
//! - other architectures: the portable C code (NEON kernels are vendored but not yet enabled);
//! - features `deep-plc`, `dred`, `osce`: libopus's DNN sources and their weights.

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("libopus");
    println!("cargo:rerun-if-changed=libopus");
    println!("cargo:rerun-if-changed=build.rs");

    let lists = SourceLists::read(&root);
    let version = read_version(&root);
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let msvc = env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "msvc");
    let x86 = arch == "x86_64" || arch == "x86";
    let deep_plc = env::var_os("CARGO_FEATURE_DEEP_PLC").is_some();
    let dred = env::var_os("CARGO_FEATURE_DRED").is_some();
    let osce = env::var_os("CARGO_FEATURE_OSCE").is_some();

    let mut base = cc::Build::new();
    base.include(root.join("include"))
        .include(&root)
        .include(root.join("celt"))
        .include(root.join("silk"))
        .include(root.join("silk/float"))
        .include(root.join("dnn"))
        .define("OPUS_BUILD", None)
        .define("ENABLE_HARDENING", None)
        .define("PACKAGE_VERSION", Some(format!("\"{version}\"").as_str()))
        // libopus is third-party code: its warnings are not ours to fix.
        .warnings(false)
        // Release-grade code even in debug builds: the audio thread runs it in real time.
        .opt_level(2);
    if msvc {
        base.define("USE_ALLOCA", None);
    } else {
        base.define("VAR_ARRAYS", None)
            .define("HAVE_LRINT", None)
            .define("HAVE_LRINTF", None);
    }
    if deep_plc {
        base.define("ENABLE_DEEP_PLC", None);
    }
    if dred {
        base.define("ENABLE_DRED", None);
    }
    if osce {
        // Not ENABLE_OSCE_BWE: the vendored tree leaves out the bandwidth-extension weights
        // (9 MB), so OSCE here is LACE/NoLACE enhancement of the decoded speech.
        base.define("ENABLE_OSCE", None);
    }
    if x86 {
        base.define("OPUS_HAVE_RTCD", None)
            .define("CPU_INFO_BY_C", None)
            .define("OPUS_X86_MAY_HAVE_SSE", None)
            .define("OPUS_X86_MAY_HAVE_SSE2", None)
            .define("OPUS_X86_MAY_HAVE_SSE4_1", None)
            .define("OPUS_X86_MAY_HAVE_AVX2", None);
        if arch == "x86_64" {
            base.define("OPUS_X86_PRESUME_SSE", None)
                .define("OPUS_X86_PRESUME_SSE2", None);
        }
    }

    // Each group is (source list names, extra compiler flags): a SIMD kernel must be compiled
    // with its instruction set enabled, and only it, so the rest runs on any CPU of the target.
    let mut groups: Vec<(Vec<&str>, Vec<&str>)> = vec![(
        vec![
            "CELT_SOURCES",
            "SILK_SOURCES",
            "SILK_SOURCES_FLOAT",
            "OPUS_SOURCES",
            "OPUS_SOURCES_FLOAT",
        ],
        vec![],
    )];
    if deep_plc {
        groups[0].0.push("DEEP_PLC_SOURCES");
    }
    if dred {
        groups[0].0.push("DRED_SOURCES");
    }
    if osce {
        groups[0].0.push("OSCE_SOURCES");
    }
    if x86 {
        let dnn = deep_plc;
        groups[0]
            .0
            .extend(["CELT_SOURCES_X86_RTCD", "SILK_SOURCES_X86_RTCD"]);
        if dnn {
            groups[0].0.push("DNN_SOURCES_X86_RTCD");
        }
        let (sse, sse2, sse41, avx2): (&[&str], &[&str], &[&str], &[&str]) = if msvc {
            (&[], &[], &[], &["/arch:AVX2"])
        } else {
            (
                &["-msse"],
                &["-msse2"],
                &["-msse4.1"],
                &["-mavx", "-mfma", "-mavx2"],
            )
        };
        groups.push((vec!["CELT_SOURCES_SSE"], sse.to_vec()));
        let mut with_sse2 = vec!["CELT_SOURCES_SSE2"];
        let mut with_sse41 = vec!["CELT_SOURCES_SSE4_1", "SILK_SOURCES_SSE4_1"];
        let mut with_avx2 = vec![
            "CELT_SOURCES_AVX2",
            "SILK_SOURCES_AVX2",
            "SILK_SOURCES_FLOAT_AVX2",
        ];
        if dnn {
            with_sse2.push("DNN_SOURCES_SSE2");
            with_sse41.push("DNN_SOURCES_SSE4_1");
            with_avx2.push("DNN_SOURCES_AVX2");
        }
        groups.push((with_sse2, sse2.to_vec()));
        groups.push((with_sse41, sse41.to_vec()));
        groups.push((with_avx2, avx2.to_vec()));
    }
    let mut objects = Vec::new();
    for (names, flags) in &groups {
        let files: Vec<PathBuf> = names
            .iter()
            .flat_map(|n| lists.get(n))
            // The bandwidth-extension weights are not vendored (see the OSCE define above).
            .filter(|f| f.as_str() != "dnn/bbwenet_data.c")
            .map(|f| root.join(f))
            .collect();
        if files.is_empty() {
            continue;
        }
        let mut build = base.clone();
        for flag in flags {
            build.flag(flag);
        }
        build.files(&files);
        objects.extend(build.compile_intermediates());
    }
    let mut archive = cc::Build::new();
    archive.objects(&objects);
    archive.compile("opus");

    // Dependents (and anyone reading DEP_OPUS_INCLUDE) find the public headers here.
    println!("cargo:include={}", root.join("include").display());
    println!("cargo:version={version}");
}

/// libopus's `*_sources.mk` files: `NAME = \` followed by one path per line.
struct SourceLists(BTreeMap<String, Vec<String>>);

impl SourceLists {
    fn read(root: &Path) -> Self {
        let mut lists = BTreeMap::new();
        for file in [
            "celt_sources.mk",
            "silk_sources.mk",
            "opus_sources.mk",
            "lpcnet_sources.mk",
        ] {
            let text = fs::read_to_string(root.join(file))
                .unwrap_or_else(|e| panic!("libopus/{file} is part of the vendored source: {e}"));
            parse_mk(&text, &mut lists);
        }
        SourceLists(lists)
    }

    fn get(&self, name: &str) -> impl Iterator<Item = &String> {
        self.0
            .get(name)
            .into_iter()
            .flatten()
            .filter(|f| f.ends_with(".c"))
    }
}

fn parse_mk(text: &str, out: &mut BTreeMap<String, Vec<String>>) {
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some((name, rest)) = line.split_once('=') {
            let name = name.trim().to_string();
            let entries = out.entry(name.clone()).or_default();
            entries.extend(
                rest.split_whitespace()
                    .filter(|w| *w != "\\")
                    .map(str::to_string),
            );
            current = rest.trim_end().ends_with('\\').then_some(name);
        } else if let Some(name) = &current {
            let entries = out.entry(name.clone()).or_default();
            entries.extend(
                line.split_whitespace()
                    .filter(|w| *w != "\\")
                    .map(str::to_string),
            );
            if !line.ends_with('\\') {
                current = None;
            }
        }
    }
}

fn read_version(root: &Path) -> String {
    let text = fs::read_to_string(root.join("package_version")).unwrap_or_default();
    text.split('"').nth(1).unwrap_or("unknown").to_string()
}
