//! A fault-injecting HTTP proxy in front of the S3 test server, and what sluice does through it:
//! survives a large share of failing requests, and fails clearly when the store stays down.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::test_util::{Run, copy_tree, in_ci, lake, sluice};

/// A proxy that sees every request (it asks the server to close each connection after its
/// response, so clients open a new one per request) and answers `503 Slow Down` to those `fail`
/// picks, given the request line and the request's number.
pub(crate) struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub(crate) addr: String,
    failed: Arc<AtomicUsize>,
    seen: Arc<AtomicUsize>,
}

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Forward it.
    Pass,
    /// Answer `503 Slow Down`.
    Fail,
    /// Say nothing for this long, then drop the connection.
    Stall(Duration),
}

impl FaultProxy {
    pub(crate) fn start(upstream: &str, fail: impl Fn(&str, usize) -> bool + Send + Sync + 'static) -> Self {
        Self::start_with(
            upstream,
            move |line, n| if fail(line, n) { Fault::Fail } else { Fault::Pass },
        )
    }

    /// A proxy that decides per request (request line, number) what to do.
    pub(crate) fn start_with(
        upstream: &str,
        fault: impl Fn(&str, usize) -> Fault + Send + Sync + 'static,
    ) -> Self {
        let fail = fault;
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let (failed, seen) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (f, s, fail) = (Arc::clone(&failed), Arc::clone(&seen), Arc::new(fail));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let (upstream, f, s, fail) = (
                    upstream.clone(),
                    Arc::clone(&f),
                    Arc::clone(&s),
                    Arc::clone(&fail),
                );
                std::thread::spawn(move || serve(client, &upstream, &f, &s, fail.as_ref()));
            }
        });
        Self { addr, failed, seen }
    }

    /// Requests answered with 503.
    pub(crate) fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }

    /// Requests seen.
    pub(crate) fn seen(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    failed: &AtomicUsize,
    seen: &AtomicUsize,
    fail: &(dyn Fn(&str, usize) -> Fault + Send + Sync),
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        if let Some(pos) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let n = seen.fetch_add(1, Ordering::SeqCst);
    let fault = fail(text.lines().next().unwrap_or(""), n);
    if let Fault::Stall(pause) = fault {
        failed.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(pause);
        return;
    }
    if fault == Fault::Fail {
        failed.fetch_add(1, Ordering::SeqCst);
        let body = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        let _ = write!(
            client,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    // One request per connection: the server closes after answering, the client reconnects.
    let mut rewritten: Vec<String> = text
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .map(str::to_string)
        .collect();
    rewritten.push("Connection: close".into());
    let mut out = rewritten.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&head[end..]);
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    if server.write_all(&out).is_err() {
        return;
    }
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
    });
    let _ = std::io::copy(&mut server, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = server.shutdown(std::net::Shutdown::Both);
    let _ = up.join();
}

/// The S3 test server's endpoint, bucket and folder, or `None` (skip) outside `scripts/test.sh`.
fn s3() -> Option<(String, String, String)> {
    match (
        std::env::var("AWS_ENDPOINT_URL"),
        std::env::var("SLUICE_TEST_S3_BUCKET"),
        std::env::var("SLUICE_TEST_S3_DIR"),
    ) {
        (Ok(e), Ok(b), Ok(d)) => Some((e, b, d)),
        _ => {
            assert!(
                !in_ci(),
                "no S3 test server; run the tests through scripts/test.sh"
            );
            eprintln!("skipping: no S3 test server (scripts/test.sh starts one)");
            None
        }
    }
}

const QUERY: &str =
    "SELECT count(*) AS n, round(sum(amount), 2) AS total, count(DISTINCT order_date) AS days FROM ";

#[test]
fn a_third_of_requests_failing_is_survived_with_complete_results() {
    let Some((endpoint, bucket, dir)) = s3() else {
        return;
    };
    let prefix = format!("flaky{:x}", std::process::id());
    copy_tree(
        Path::new(&lake("orders")),
        &Path::new(&dir).join(&bucket).join(&prefix).join("orders"),
    );
    let url = format!("s3://{bucket}/{prefix}/orders/");
    let sql = format!("{QUERY}'{url}'");
    let direct = Run::from(sluice().args(["sql", "--format", "json", &sql]).output().unwrap()).json();
    // Every third request fails, listings and reads alike.
    let proxy = FaultProxy::start(&endpoint, |_, n| n % 3 == 1);
    let through = Run::from(
        sluice()
            .env("AWS_ENDPOINT_URL", &proxy.addr)
            .args(["sql", "--format", "json", &sql])
            .output()
            .unwrap(),
    )
    .json();
    assert_eq!(through, direct);
    assert_eq!(direct[0]["n"], 60);
    assert!(
        proxy.failed() >= 3,
        "only {} of {} requests failed",
        proxy.failed(),
        proxy.seen()
    );
    assert!(
        proxy.failed() * 4 >= proxy.seen(),
        "{} of {}",
        proxy.failed(),
        proxy.seen()
    );
}

#[test]
fn stalled_requests_are_abandoned_after_the_request_timeout_and_retried() {
    let Some((endpoint, bucket, dir)) = s3() else {
        return;
    };
    let prefix = format!("stall{:x}", std::process::id());
    copy_tree(
        Path::new(&lake("orders")),
        &Path::new(&dir).join(&bucket).join(&prefix).join("orders"),
    );
    let sql = format!("{QUERY}'s3://{bucket}/{prefix}/orders/'");
    let direct = Run::from(sluice().args(["sql", "--format", "json", &sql]).output().unwrap()).json();
    // Every fourth request hangs for a minute without an answer.
    let proxy = FaultProxy::start_with(&endpoint, |_, n| {
        if n % 4 == 2 {
            Fault::Stall(Duration::from_secs(60))
        } else {
            Fault::Pass
        }
    });
    let started = Instant::now();
    let through = Run::from(
        sluice()
            .env("AWS_ENDPOINT_URL", &proxy.addr)
            .env("SLUICE_S3_TIMEOUT_SECS", "2")
            .args(["sql", "--format", "json", &sql])
            .output()
            .unwrap(),
    )
    .json();
    assert_eq!(through, direct);
    assert!(
        proxy.failed() >= 2,
        "only {} of {} stalled",
        proxy.failed(),
        proxy.seen()
    );
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "waited out a stall: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_store_that_stays_down_fails_clearly_after_the_retry_budget() {
    let Some((endpoint, bucket, _)) = s3() else { return };
    let proxy = FaultProxy::start(&endpoint, |_, _| true);
    let started = Instant::now();
    let run = Run::from(
        sluice()
            .env("AWS_ENDPOINT_URL", &proxy.addr)
            .env("SLUICE_S3_MAX_RETRIES", "2")
            .env("SLUICE_S3_RETRY_TIMEOUT_SECS", "5")
            .args(["sql", &format!("{QUERY}'s3://{bucket}/down/orders/'")])
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("503"), "{}", run.stderr);
    assert!(
        run.stderr.contains("down/orders"),
        "the error names the location: {}",
        run.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        proxy.failed() >= 3,
        "{} requests: the store retried",
        proxy.failed()
    );
}
