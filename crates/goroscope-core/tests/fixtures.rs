//! Recorded dumps of the Go workload program (tests/fixtures/go1.NN, made by
//! testdata/goprog/record.sh): every goroutine the program created must be
//! found with the state, block class, wait reason, lock flag and labels its
//! manifest (expected.json) says, and the whole parse is pinned by snapshots.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use goroscope_core::model::{Elided, FrameKind, Goroutine, Origin, Snapshot, State};
use goroscope_core::parse::parse_dump;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
struct Manifest {
    go_version: String,
    kinds: BTreeMap<String, Kind>,
}

#[derive(Debug, Deserialize)]
struct Kind {
    count: u64,
    wait_reason: String,
    states: Vec<String>,
    block_class: String,
    locked: bool,
    #[serde(default)]
    label_sets: Vec<BTreeMap<String, String>>,
}

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn versions() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_root())
        .expect("tests/fixtures exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.json").exists())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no recorded fixtures found");
    v
}

/// The dumps recorded for a Go release: the five every release has, plus
/// the SIGQUIT + GOTRACEBACK=crash dump where it was recorded.
fn files_of(dir: &Path) -> Vec<&'static str> {
    let mut files = vec![
        "stack.txt",
        "debug2.txt",
        "ancestors.txt",
        "labels.txt",
        "crash_system.txt",
    ];
    if dir.join("sigquit_crash.txt").exists() {
        files.push("sigquit_crash.txt");
    }
    files
}

fn load(path: &Path) -> Snapshot {
    let (snap, err) = parse_dump(File::open(path).expect("fixture opens"));
    assert!(err.is_none(), "{}: {err:?}", path.display());
    snap
}

/// The manifest's identification rule: a goroutine belongs to kind K when K
/// is the outermost frame of its own stack whose function starts `main.w`.
fn kind_of<'a>(snap: &'a Snapshot, g: &Goroutine) -> Option<&'a str> {
    snap.tables
        .stack(g.stack)
        .iter()
        .rev()
        .map(|&f| &*snap.tables.frame(f).function)
        .find(|f| f.starts_with("main.w"))
}

fn check_against_manifest(dir: &Path, file: &str) {
    let manifest: Manifest =
        serde_json::from_reader(File::open(dir.join("expected.json")).expect("expected.json"))
            .expect("manifest parses");
    let snap = load(&dir.join(file));
    let ctx = format!("{} ({})", dir.join(file).display(), manifest.go_version);
    let mut seen: BTreeMap<&str, Vec<&Goroutine>> = BTreeMap::new();
    for g in &snap.goroutines {
        if let Some(k) = kind_of(&snap, g) {
            seen.entry(k).or_default().push(g);
        }
    }
    for (name, kind) in &manifest.kinds {
        let gs = seen.get(name.as_str()).map_or(&[][..], |v| v.as_slice());
        assert_eq!(gs.len() as u64, kind.count, "{ctx}: count of {name}");
        let mut label_sets = Vec::new();
        for g in gs {
            assert!(
                kind.states.iter().any(|s| s == g.state.as_str()),
                "{ctx}: {name} goroutine {} is {:?}, want one of {:?}",
                g.id,
                g.state,
                kind.states
            );
            assert_eq!(
                g.block_class.as_str(),
                kind.block_class,
                "{ctx}: class of {name} goroutine {}",
                g.id
            );
            let reason = g.wait_reason.map_or("", |r| snap.tables.str(r));
            assert_eq!(
                reason, kind.wait_reason,
                "{ctx}: wait reason of {name} goroutine {}",
                g.id
            );
            assert_eq!(
                g.flags.locked_to_thread, kind.locked,
                "{ctx}: locked flag of {name}"
            );
            assert_eq!(g.origin, Origin::User, "{ctx}: {name} is user code");
            assert!(
                !g.flags.truncated,
                "{ctx}: {name} goroutine {} truncated",
                g.id
            );
            let labels: BTreeMap<String, String> = snap
                .labels_of(g)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            if !labels.is_empty() {
                label_sets.push(labels);
            }
        }
        label_sets.sort();
        let mut want = kind.label_sets.clone();
        want.sort();
        if file == "labels.txt" {
            assert_eq!(label_sets, want, "{ctx}: labels of {name}");
        } else {
            // Without GODEBUG=tracebacklabels=1 labels are only printed where
            // the Go release turns them on by default; then they must match.
            assert!(
                label_sets.is_empty() || label_sets == want,
                "{ctx}: labels of {name}: {label_sets:?}"
            );
        }
    }
    assert!(
        snap.diagnostics.is_empty(),
        "{ctx}: unexpected diagnostics {:?}",
        snap.diagnostics
    );
}

#[test]
fn stack_dumps_match_the_program_manifest() {
    for dir in versions() {
        for file in files_of(&dir) {
            check_against_manifest(&dir, file);
        }
    }
}

#[test]
fn sigquit_crash_dump_details() {
    let path = fixtures_root().join("go1.26/sigquit_crash.txt");
    let snap = load(&path);
    // One g0 per M, printed as `goroutine 0 gp=.. m=N mp=.. [idle]`, each
    // followed by a register dump that must be skipped, not parsed.
    let g0: Vec<&Goroutine> = snap.goroutines.iter().filter(|g| g.id == 0).collect();
    // The recorded dump has 7 Ms, so 7 g0s.
    assert_eq!(g0.len(), 7, "goroutine 0 blocks");
    for g in &g0 {
        assert_eq!((g.state, g.origin), (State::Idle, Origin::Runtime));
        assert!(g.thread.is_some_and(|t| t.m.is_some()));
        assert!(!snap.tables.stack(g.stack).is_empty());
    }
    assert!(snap.diagnostics.is_empty(), "{:?}", snap.diagnostics);
    assert!(snap.goroutines.iter().all(|g| !g.flags.truncated));
}

#[test]
fn crash_dump_details() {
    for dir in versions() {
        let snap = load(&dir.join("crash_system.txt"));
        // Every header of a GOTRACEBACK=system dump carries gp= and m=.
        assert!(snap.goroutines.iter().all(|g| g.thread.is_some()));
        // The runtime's own goroutines are visible and recognised.
        let runtime: Vec<&Goroutine> = snap
            .goroutines
            .iter()
            .filter(|g| g.origin == Origin::Runtime)
            .collect();
        assert!(runtime.len() >= 5, "runtime goroutines: {}", runtime.len());
        for g in &runtime {
            assert_eq!(g.block_class.as_str(), "gc_runtime", "goroutine {}", g.id);
        }
        // fp/sp/pc suffixes are not part of frame identity: the 11 wChanRecv
        // goroutines share one stack.
        let recv: Vec<_> = snap
            .goroutines
            .iter()
            .filter(|g| kind_of(&snap, g) == Some("main.wChanRecv"))
            .map(|g| g.stack)
            .collect();
        assert_eq!(recv.len(), 11);
        assert!(recv.windows(2).all(|w| w[0] == w[1]));
    }
}

#[test]
fn elision_ancestors_generics_inlining() {
    for dir in versions() {
        let snap = load(&dir.join("ancestors.txt"));
        let deep: Vec<&Goroutine> = snap
            .goroutines
            .iter()
            .filter(|g| kind_of(&snap, g) == Some("main.wDeep"))
            .collect();
        assert_eq!(deep.len(), 2);
        for g in &deep {
            match g.elided {
                Elided::Count(n) => assert!(n > 10, "elided {n}"),
                other => panic!("wDeep elision: {other:?}"),
            }
            assert_eq!(snap.tables.stack(g.stack).len(), 100, "first 50 + last 50");
        }
        let child = snap
            .goroutines
            .iter()
            .find(|g| kind_of(&snap, g) == Some("main.wChild"))
            .expect("wChild present");
        let cb = child.created_by.expect("created by");
        assert_eq!(&*snap.tables.frame(cb.frame).function, "main.wParent");
        assert!(cb.goroutine.is_some());
        assert!(
            !child.ancestors.is_empty(),
            "tracebackancestors blocks parsed"
        );
        let first = &child.ancestors[0];
        assert_eq!(
            Some(first.goroutine),
            cb.goroutine,
            "nearest ancestor is the parent"
        );
        let generic = snap
            .goroutines
            .iter()
            .find(|g| kind_of(&snap, g) == Some("main.wGeneric[...]"))
            .expect("generic goroutine present");
        assert!(snap
            .frames_of(generic)
            .any(|f| f.function.ends_with("[...]")));
        let any_inlined = snap
            .goroutines
            .iter()
            .flat_map(|g| snap.frames_of(g))
            .any(|f| f.kind == FrameKind::Inlined && f.pc_offset.is_none());
        assert!(any_inlined, "inlined frames (...) without +0x offset");
    }
}

/// A compact, stable rendering of a parse for snapshot tests.
fn summary(snap: &Snapshot) -> serde_json::Value {
    let t = &snap.tables;
    let gs: Vec<_> = snap
        .goroutines
        .iter()
        .map(|g| {
            let frames: Vec<String> = snap
                .frames_of(g)
                .map(|f| format!("{} {}:{}", f.function, f.file, f.line))
                .collect();
            json!({
                "id": g.id,
                "state": g.state,
                "status": t.str(g.status),
                "block_class": g.block_class,
                "origin": g.origin,
                "wait_minutes": g.wait_minutes,
                "flags": g.flags,
                "labels": snap.labels_of(g),
                "elided": g.elided,
                "created_by": g.created_by.map(|c| {
                    let f = t.frame(c.frame);
                    format!("{} in {:?} at {}:{}", f.function, c.goroutine, f.file, f.line)
                }),
                "ancestors": g.ancestors.iter().map(|a| json!({
                    "goroutine": a.goroutine,
                    "frames": t.stack(a.stack).len(),
                    "elided": a.elided,
                })).collect::<Vec<_>>(),
                "m": g.thread.map(|th| th.m),
                "frames": frames,
            })
        })
        .collect();
    json!({
        "goroutines": gs,
        "unique_frames": t.frame_count(),
        "unique_stacks": t.stack_count(),
        "diagnostics": snap.diagnostics,
    })
}

#[test]
fn snapshots_of_recorded_fixtures() {
    for dir in versions() {
        let version = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        for file in files_of(&dir) {
            let snap = load(&dir.join(file));
            let name = format!("{version}__{}", file.trim_end_matches(".txt"));
            insta::assert_json_snapshot!(name, summary(&snap));
        }
    }
}

#[test]
fn states_seen_in_recorded_fixtures() {
    // The workload reaches these states; the parser must report them.
    for dir in versions() {
        let snap = load(&dir.join("stack.txt"));
        let states: std::collections::BTreeSet<State> =
            snap.goroutines.iter().map(|g| g.state).collect();
        for s in [State::Running, State::Waiting, State::Syscall] {
            assert!(states.contains(&s), "{}: no {s:?}", dir.display());
        }
    }
}
