//! Live targets: `goroscope analyze http://host:port` fetches a goroutine
//! profile or dump from a Go service's net/http/pprof endpoints.

use std::time::Duration;

use clap::ValueEnum;

/// Which endpoint, and so what it costs the target (README: Profiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// `/debug/pprof/goroutine` (debug=0 protobuf): a short fixed pause,
    /// states inferred from stacks. The default: the cheap one.
    Profile,
    /// `/debug/pprof/goroutine?debug=1`: the same cost, text, runtime
    /// frames hidden.
    Legacy,
    /// `/debug/pprof/goroutine?debug=2`: exact states and wait times, but
    /// the target stops for the whole dump (1-10 us per goroutine).
    Dump,
    /// `/debug/pprof/goroutineleak` (Go 1.26 with
    /// GOEXPERIMENT=goroutineleakprofile): only leaked goroutines; costs a
    /// GC cycle.
    Leak,
}

/// How to fetch.
pub struct Options {
    pub mode: Mode,
    pub timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_body: u64,
    pub bearer_token: Option<String>,
    /// `Name: value` headers.
    pub headers: Vec<String>,
    /// PEM file of the certificates to trust for https instead of the
    /// public roots (a private CA, a self-signed service).
    pub ca_cert: Option<std::path::PathBuf>,
}

/// Whether a command-line input names a URL.
pub fn is_url(input: &str) -> bool {
    input.starts_with("http://") || input.starts_with("https://")
}

/// The URL to fetch: a full `/debug/pprof/...` URL as given, else the
/// mode's endpoint under the given base.
pub fn endpoint(input: &str, mode: Mode) -> String {
    let path = match mode {
        Mode::Profile => "/debug/pprof/goroutine",
        Mode::Legacy => "/debug/pprof/goroutine?debug=1",
        Mode::Dump => "/debug/pprof/goroutine?debug=2",
        Mode::Leak => "/debug/pprof/goroutineleak",
    };
    under(input, path)
}

/// `path` (which may carry a query) under a base URL, before the base's
/// own query; a full `/debug/pprof/...` URL is kept as given.
fn under(input: &str, path: &str) -> String {
    if input.contains("/debug/pprof/") {
        return input.to_string();
    }
    let (base, query) = input.split_once('?').unwrap_or((input, ""));
    let base = base.trim_end_matches('/');
    if query.is_empty() {
        format!("{base}{path}")
    } else {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{base}{path}{sep}{query}")
    }
}

/// What kind of failure a fetch met: the agent counts them by kind (a
/// bounded label), people read the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// Refused, unreachable, unknown host, TLS failure.
    Connect,
    /// No complete answer within the timeout.
    Timeout,
    /// An HTTP error status.
    HttpStatus,
    /// An answer that is not a goroutine profile or dump (an HTML page, a
    /// pprof handler error, another profile, garbage).
    NotPprof,
    /// Larger than the body limit.
    TooLarge,
    /// The connection broke while the answer was read.
    Read,
    /// The fetch could not be set up (a bad CA file, a bad header).
    Config,
}

impl ErrorKind {
    /// Every kind, for documentation and bounds.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::HttpStatus,
        ErrorKind::NotPprof,
        ErrorKind::TooLarge,
        ErrorKind::Read,
        ErrorKind::Config,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::NotPprof => "not_pprof",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Read => "read",
            ErrorKind::Config => "config",
        }
    }
}

/// A failed fetch: one sentence naming the URL and what to check.
#[derive(Debug)]
pub struct FetchError {
    pub kind: ErrorKind,
    pub message: String,
}

impl FetchError {
    /// A failure of this kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FetchError {}

/// An HTTP client for these options (its TLS roots, its timeout), to be
/// reused for every fetch of a target.
pub fn client(opts: &Options) -> Result<ureq::Agent, FetchError> {
    let config_error = |m: String| FetchError::new(ErrorKind::Config, m);
    let mut config = ureq::Agent::config_builder();
    if let Some(path) = &opts.ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            config_error(format!(
                "--ca-cert {}: {e}: give a PEM certificate file",
                path.display()
            ))
        })?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(config_error(format!(
                        "--ca-cert {}: not valid PEM ({e})",
                        path.display()
                    )))
                }
            }
        }
        if certs.is_empty() {
            return Err(config_error(format!(
                "--ca-cert {}: no certificate in it",
                path.display()
            )));
        }
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::from(certs))
            .build();
        config = config.tls_config(tls);
    }
    for h in &opts.headers {
        if h.split_once(':').is_none() {
            return Err(config_error(format!(
                "--header {h:?}: expected `Name: value`"
            )));
        }
    }
    let config = config
        // ureq's 128 KiB buffers per connection would be most of the
        // agent's memory with ten targets; pprof answers have small
        // headers and requests are one line.
        .input_buffer_size(32 << 10)
        .output_buffer_size(8 << 10)
        .max_response_header_size(16 << 10)
        .timeout_global(Some(opts.timeout))
        .http_status_as_error(false)
        .user_agent(concat!("goroscope/", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::default(),
        LiteralFirst::default(),
    ))
}

/// Resolves an IP-literal host (a sidecar's `127.0.0.1`) in place; names
/// go to ureq's resolver, which looks them up on a new thread so that the
/// timeout holds. A thread per connection to an address that needs no
/// lookup would only cost the agent memory (each keeps a malloc arena).
#[derive(Debug, Default)]
struct LiteralFirst(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        if let Some(authority) = uri.authority() {
            let host = authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']');
            if let Ok(ip) = host.parse::<std::net::IpAddr>() {
                let default_port = if uri.scheme_str() == Some("https") {
                    443
                } else {
                    80
                };
                let mut addrs = self.empty();
                addrs.push(std::net::SocketAddr::new(
                    ip,
                    authority.port_u16().unwrap_or(default_port),
                ));
                return Ok(addrs);
            }
        }
        self.0.resolve(uri, config, timeout)
    }
}

/// The URL of an execution trace of `seconds` from a service: its base URL
/// (query kept) or a full `/debug/pprof/...` URL as given.
pub fn trace_url(input: &str, seconds: f64) -> String {
    under(input, &format!("/debug/pprof/trace?seconds={seconds}"))
}

/// Opens `url` for reading as a stream (an execution trace can be far
/// larger than anything worth holding in memory), after the same checks
/// as [`get`]; the stream fails once it passes `opts.max_body`.
pub fn open(url: &str, opts: &Options) -> Result<Box<dyn std::io::Read + Send>, FetchError> {
    let resp = call(&client(opts)?, url, opts)?;
    Ok(Box::new(Capped {
        inner: resp.into_body().into_reader(),
        left: opts.max_body,
        url: url.to_string(),
    }))
}

/// A stream that fails, naming the URL, once it passes its cap.
struct Capped<R> {
    inner: R,
    left: u64,
    url: String,
}

impl<R: std::io::Read> std::io::Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(format!(
                "{} sent more than the cap: raise --max-mib if that is genuine",
                self.url
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Fetches `url` with a one-off client.
pub fn fetch(url: &str, opts: &Options) -> Result<Vec<u8>, FetchError> {
    get(&client(opts)?, url, opts)
}

/// Sends the GET (token and headers from `opts`) and refuses an answer
/// that is not pprof data: an error status, Go's `X-Go-Pprof` error
/// header, an HTML page. Every failure is one sentence naming the URL and
/// what to check (quoting the start of the answer).
fn call(
    agent: &ureq::Agent,
    url: &str,
    opts: &Options,
) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
    let mut req = agent.get(url);
    if let Some(t) = &opts.bearer_token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    for h in &opts.headers {
        if let Some((name, value)) = h.split_once(':') {
            req = req.header(name.trim(), value.trim());
        }
    }
    let resp = req.call().map_err(|e| explain(url, opts, e))?;
    let status = resp.status();
    let pprof_error = resp.headers().get("X-Go-Pprof").is_some();
    let html = resp
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if status.is_success() && !pprof_error && !html {
        return Ok(resp);
    }
    let mut head = Vec::new();
    let _ = std::io::Read::read_to_end(
        &mut std::io::Read::take(resp.into_body().into_reader(), 200),
        &mut head,
    );
    let first_line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    Err(if !status.is_success() {
        let hint = match status.as_u16() {
            401 | 403 => "the endpoint is protected: pass --bearer-token or --header",
            404 => "this server does not serve that pprof endpoint: is net/http/pprof imported (import _ \"net/http/pprof\") and is this its port? (the goroutineleak profile needs Go 1.26 built with GOEXPERIMENT=goroutineleakprofile)",
            _ if pprof_error => "the pprof handler refused",
            _ => "check the URL",
        };
        FetchError::new(
            ErrorKind::HttpStatus,
            format!("{url} answered {status}: {first_line} ({hint})"),
        )
    } else if pprof_error {
        FetchError::new(
            ErrorKind::NotPprof,
            format!("{url}: the pprof handler reported an error: {first_line} (an execution trace: is another one being taken? Go allows one at a time)"),
        )
    } else {
        FetchError::new(
            ErrorKind::NotPprof,
            format!("{url} answered with an HTML page, not pprof data: give the service's base URL or its /debug/pprof/... URL"),
        )
    })
}

/// Fetches `url` whole, up to `opts.max_body`.
pub fn get(agent: &ureq::Agent, url: &str, opts: &Options) -> Result<Vec<u8>, FetchError> {
    let mut resp = call(agent, url, opts)?;
    let (body, over) = crate::source::read_capped(resp.body_mut().as_reader(), opts.max_body, 0)
        .map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::TimedOut {
                ErrorKind::Timeout
            } else {
                ErrorKind::Read
            };
            FetchError::new(
                kind,
                format!("reading the answer of {url} failed: {e}; retry"),
            )
        })?;
    if over {
        return Err(FetchError::new(
            ErrorKind::TooLarge,
            format!(
                "{url} sent more than {} MiB: raise --max-decompressed if that is a genuine goroutine dump",
                opts.max_body >> 20
            ),
        ));
    }
    Ok(body)
}

const NOT_LISTENING: &str = "is the service running and serving net/http/pprof on that port?";

fn explain(url: &str, opts: &Options, e: ureq::Error) -> FetchError {
    let (kind, what) = match &e {
        ureq::Error::Timeout(_) => (
            ErrorKind::Timeout,
            format!(
                "did not answer within {}s (--timeout); is the service overloaded or the port wrong?",
                opts.timeout.as_secs_f64()
            ),
        ),
        ureq::Error::HostNotFound => (
            ErrorKind::Connect,
            "host not found: check the host name".to_string(),
        ),
        ureq::Error::ConnectionFailed => (
            ErrorKind::Connect,
            format!("connection failed: {NOT_LISTENING}"),
        ),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (
            ErrorKind::Connect,
            format!("connection refused: {NOT_LISTENING}"),
        ),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => (
            ErrorKind::Timeout,
            format!("timed out: {io}"),
        ),
        ureq::Error::BadUri(u) => (ErrorKind::Config, format!("not a valid URL ({u})")),
        ureq::Error::Io(_) => (ErrorKind::Read, format!("{e}")),
        other => (ErrorKind::Connect, format!("{other}")),
    };
    FetchError::new(kind, format!("cannot fetch {url}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_urls() {
        assert_eq!(
            trace_url("http://h:1", 5.0),
            "http://h:1/debug/pprof/trace?seconds=5"
        );
        assert_eq!(
            trace_url("http://h:1/?x=1", 0.5),
            "http://h:1/debug/pprof/trace?seconds=0.5&x=1"
        );
        assert_eq!(
            trace_url("http://h:1/debug/pprof/trace?seconds=9", 2.0),
            "http://h:1/debug/pprof/trace?seconds=9"
        );
    }

    #[test]
    fn endpoints() {
        let cases = [
            (
                "http://h:1",
                Mode::Profile,
                "http://h:1/debug/pprof/goroutine",
            ),
            (
                "http://h:1/",
                Mode::Dump,
                "http://h:1/debug/pprof/goroutine?debug=2",
            ),
            (
                "https://h/app",
                Mode::Leak,
                "https://h/app/debug/pprof/goroutineleak",
            ),
            // A full pprof URL is used as given, whatever the mode.
            (
                "http://h/debug/pprof/goroutine?debug=1",
                Mode::Dump,
                "http://h/debug/pprof/goroutine?debug=1",
            ),
            (
                "http://h:1/?token=x",
                Mode::Dump,
                "http://h:1/debug/pprof/goroutine?debug=2&token=x",
            ),
        ];
        for (input, mode, want) in cases {
            assert_eq!(endpoint(input, mode), want, "{input} {mode:?}");
        }
        assert!(is_url("http://x") && is_url("https://x") && !is_url("/tmp/x"));
    }
}
