//! `goroscope demo`: the main job, on a default that works out of the box.
//! It starts the stdlib-only Go demo service shipped in the repository
//! (examples/demo, embedded in the binary and built with the machine's Go)
//! and runs the agent against it, then says where to look. Without Go it
//! replays a recording of real snapshots of that service
//! (examples/demo/recording) through the same pipeline: a local HTTP
//! server answers the pprof endpoints with them, one step per scrape.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::serve::{self, config};

const DEMO_MAIN: &str = include_str!("../../../examples/demo/main.go");
const DEMO_MOD: &str = include_str!("../../../examples/demo/go.mod");

/// One recorded moment: the profile and the dump taken then.
struct Snap {
    profile: &'static [u8],
    dump: &'static [u8],
}

/// examples/demo/recording, 5 s apart (see its README.md).
const RECORDING: [Snap; 12] = [
    Snap {
        profile: include_bytes!("../../../examples/demo/recording/profile-01.pb.gz"),
        dump: include_bytes!("../../../examples/demo/recording/dump-01.txt.gz"),
    },
    Snap {
        profile: include_bytes!("../../../examples/demo/recording/profile-02.pb.gz"),
        dump: include_bytes!("../../../examples/demo/recording/dump-02.txt.gz"),
    },
    Snap {
        profile: include_bytes!("../../../examples/demo/recording/profile-03.pb.gz"),
        dump: include_bytes!("../../../examples/demo/recording/dump-03.txt.gz"),
    },
    Snap {
        profile: include_bytes!("../../../examples/demo/recording/profile-04.pb.gz"),
        dump: include_bytes!("../../../examples/demo/recording/dump-04.txt.gz"),
    },
    Snap {
        profile: include_bytes!("../../../examples/demo/recording/profile-05.pb.gz"),
        dump: include_bytes!("../../../examples/demo/recording/dump-05.txt.gz"),
    },
    Snap {
        profile: include_bytes!("../../../examples/demo/recording/profile-06.pb.gz"),
        dump: include_bytes!("../../../examples/demo/recording/dump-06.txt.gz"),
    },
    Snap {
        profile: include_bytes!("../../../examples/demo/recording/profile-07.pb.gz"),
        dump: include_bytes!("../../../examples/demo/recording/dump-07.txt.gz"),
    },
    Snap {
        profile: include_bytes!("../../../examples/demo/recording/profile-08.pb.gz"),
        dump: include_bytes!("../../../examples/demo/recording/dump-08.txt.gz"),
    },
    Snap {
        profile: include_bytes!("../../../examples/demo/recording/profile-09.pb.gz"),
        dump: include_bytes!("../../../examples/demo/recording/dump-09.txt.gz"),
    },
    Snap {
        profile: include_bytes!("../../../examples/demo/recording/profile-10.pb.gz"),
        dump: include_bytes!("../../../examples/demo/recording/dump-10.txt.gz"),
    },
    Snap {
        profile: include_bytes!("../../../examples/demo/recording/profile-11.pb.gz"),
        dump: include_bytes!("../../../examples/demo/recording/dump-11.txt.gz"),
    },
    Snap {
        profile: include_bytes!("../../../examples/demo/recording/profile-12.pb.gz"),
        dump: include_bytes!("../../../examples/demo/recording/dump-12.txt.gz"),
    },
];

/// The running service: the Go demo (stopped on drop by closing its
/// stdin) or the replay server.
enum Service {
    Live(Child),
    Replay(Arc<tiny_http::Server>),
}

impl Drop for Service {
    fn drop(&mut self) {
        match self {
            Service::Live(child) => {
                // -exit-on-eof: closing stdin ends it cleanly.
                drop(child.stdin.take());
                for _ in 0..50 {
                    if matches!(child.try_wait(), Ok(Some(_))) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            Service::Replay(server) => server.unblock(),
        }
    }
}

fn go_available() -> bool {
    Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds the embedded demo (once per version: the build is cached) and
/// starts it on a free loopback port; returns it and its URL.
fn start_live() -> anyhow::Result<(Service, String)> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("goroscope-demo-{}", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bin = dir.join("demo");
    let main = dir.join("main.go");
    let fresh = std::fs::read_to_string(&main).is_ok_and(|m| m == DEMO_MAIN) && bin.exists();
    if !fresh {
        eprintln!(
            "goroscope demo: building the Go demo service (the first time takes a few seconds)"
        );
        std::fs::write(&main, DEMO_MAIN)?;
        std::fs::write(dir.join("go.mod"), DEMO_MOD)?;
        let out = Command::new("go")
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(&dir)
            .output()
            .context("cannot run go build")?;
        if !out.status.success() {
            anyhow::bail!(
                "go build of the demo failed: {}; run `goroscope demo --replay` to use the recording",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    let mut child = Command::new(&bin)
        .args(["-addr", "127.0.0.1:0", "-exit-on-eof"])
        // Labels in dumps: the agent's exemplars carry trace ids.
        .env("GODEBUG", "tracebacklabels=1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let stdout = child.stdout.take().context("demo stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("reading the demo's address")?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .map(str::to_string)
        .with_context(|| format!("the demo did not start: {line:?}"))?;
    Ok((Service::Live(child), url))
}

/// Serves the recording as pprof endpoints on a free loopback port: each
/// profile request moves one step on (the last step stays), a dump request
/// answers the current step's dump.
fn start_replay() -> anyhow::Result<(Service, String)> {
    let server = tiny_http::Server::http("127.0.0.1:0")
        .map(Arc::new)
        .map_err(|e| anyhow::anyhow!("cannot start the replay server: {e}"))?;
    let url = format!(
        "http://{}",
        server
            .server_addr()
            .to_ip()
            .context("the replay server has no IP address")?
    );
    let s = server.clone();
    let step = AtomicUsize::new(0);
    std::thread::Builder::new()
        .name("replay".into())
        .spawn(move || {
            while let Ok(req) = s.recv() {
                let url = req.url().to_string();
                let answer = if url.starts_with("/debug/pprof/goroutine?debug=2") {
                    let snap = &RECORDING[step.load(Ordering::Relaxed)];
                    goroscope_core::parse::pprof::gunzip(snap.dump, 64 << 20)
                        .map(|d| d.into_owned())
                        .unwrap_or_default()
                } else if url == "/debug/pprof/goroutine" {
                    let i = step.load(Ordering::Relaxed);
                    step.store((i + 1).min(RECORDING.len() - 1), Ordering::Relaxed);
                    RECORDING[i].profile.to_vec()
                } else {
                    let _ = req.respond(tiny_http::Response::empty(404));
                    continue;
                };
                let _ = req.respond(tiny_http::Response::from_data(answer));
            }
        })
        .context("cannot start the replay thread")?;
    Ok((Service::Replay(server), url))
}

/// Runs the demo until Ctrl-C.
pub fn run(listen: Option<String>, replay: bool) -> anyhow::Result<ExitCode> {
    let live = !replay && go_available();
    let (service, url) = if live {
        start_live()?
    } else {
        if !replay {
            eprintln!("goroscope demo: go is not on PATH: replaying a recording of the demo service instead");
        }
        start_replay()?
    };
    let target = format!("targets:\n  - name: demo\n    url: {url}\n    interval: 5s\n");
    let config = config::parse(
        &target,
        "demo",
        listen.as_deref(),
        &config::Settings::default(),
        &config::OtlpSettings::default(),
    )?;
    let what = if live {
        format!("the Go demo service (a worker pool, labelled handlers on a contended lock, idle connections and a goroutine leak) runs at {url}")
    } else {
        format!("a recording of the Go demo service is replayed at {url}")
    };
    let code = serve::run(serve::Source::Flags(Box::new(config)), |addr| {
        println!("goroscope demo: {what}");
        println!("  metrics:   http://{addr}/metrics");
        println!("  targets:   http://{addr}/api/v1/targets");
        println!("  snapshot:  http://{addr}/api/v1/targets/demo/snapshot");
        println!("  by hand:   goroscope analyze {url}");
        println!("Ctrl-C stops it.");
    });
    drop(service);
    code
}
