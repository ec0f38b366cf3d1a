//! The MCP backend over its real Unix socket (fake workers, the capture's setup):
//! `task_peek` round trips with 8 concurrent clients (target: at least 10,000 per second),
//! and the client side of `orch models --format json` (connect, handshake, `task_list`
//! view models as JSON, parse). The wall time of the real binary is measured by
//! `cli/benches/cli.rs`.
//!
//! Run with `cargo bench --bench mcp`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use divan::Bencher;
use divan::counter::ItemsCount;
use orch::api::Orchestrator;
use orch::client::SocketClient;
use orch::knowledge::Knowledge;
use orch::tasks::Limits;
use orch::testutil::capture_home;
use orch::testutil::fake_workers::FakeWorkers;
use orch::testutil::served::Served;
use orch::wire::ModelsQuery;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use tokio::net::UnixStream;

const CLIENTS: usize = 8;
const PEEKS_PER_CLIENT: usize = 250;

struct Fixture {
    rt: tokio::runtime::Runtime,
    socket: PathBuf,
    clients: Vec<RunningService<RoleClient, ()>>,
    served: Served<FakeWorkers>,
    _dir: tempfile::TempDir,
}

static FIXTURE: Mutex<Option<Arc<Fixture>>> = Mutex::new(None);

#[expect(clippy::expect_used, reason = "test helper")]
fn fixture() -> Arc<Fixture> {
    match FIXTURE.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
    .expect("the fixture exists")
}

#[expect(clippy::expect_used, reason = "test helper")]
fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    r.expect("the call succeeds")
}

fn setup() -> Fixture {
    let dir = ok(tempfile::tempdir());
    let (paths, env) = capture_home(dir.path());
    let rt = ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build());
    let fake = FakeWorkers::new(ok(Knowledge::load_local(&paths, &env)));
    let served = rt.block_on(async { Served::start(Arc::new(fake), &paths, Limits::default()) });
    let socket = served.socket.clone();
    let clients = rt.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let stream = ok(UnixStream::connect(&socket).await);
            clients.push(ok(().serve(stream).await));
        }
        // One finished task to peek at.
        let args = serde_json::json!({"kind":"worker","workerId":"docs","task":"x"});
        let serde_json::Value::Object(args) = args else {
            unreachable!()
        };
        ok(clients[0]
            .call_tool(CallToolRequestParams::new("task_start").with_arguments(args))
            .await);
        clients
    });
    Fixture {
        rt,
        socket,
        clients,
        served,
        _dir: dir,
    }
}

fn main() {
    if let Ok(mut g) = FIXTURE.lock() {
        *g = Some(Arc::new(setup()));
    }
    divan::main();
    if std::env::var_os("ORCH_BENCH_PEEK_CPU").is_some() {
        peek_cpu();
    }
    let taken = FIXTURE.lock().ok().and_then(|mut g| g.take());
    if let Some(f) = taken.and_then(|f| Arc::try_unwrap(f).ok()) {
        let Fixture {
            rt,
            clients,
            served,
            ..
        } = f;
        rt.block_on(async {
            for c in clients {
                let _ = c.cancel().await;
            }
            served.stop().await;
        });
    }
}

/// 8 clients, each doing `PEEKS_PER_CLIENT` sequential `task_peek` calls, all at once.
#[divan::bench(sample_count = 20)]
fn task_peek_8_concurrent_clients(b: Bencher) {
    let f = fixture();
    let args = match serde_json::json!({"taskId": "t1", "format": "json"}) {
        serde_json::Value::Object(o) => o,
        _ => unreachable!(),
    };
    b.counter(ItemsCount::new(CLIENTS * PEEKS_PER_CLIENT))
        .bench(|| {
            f.rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for c in &f.clients {
                    let peer = c.peer().clone();
                    let args = args.clone();
                    set.spawn(async move {
                        for _ in 0..PEEKS_PER_CLIENT {
                            let r = ok(peer
                                .call_tool(
                                    CallToolRequestParams::new("task_peek")
                                        .with_arguments(args.clone()),
                                )
                                .await);
                            assert_ne!(r.is_error, Some(true));
                        }
                    });
                }
                while let Some(r) = set.join_next().await {
                    ok(r);
                }
            });
        });
}

/// What `orch models --format json` does besides starting a process: connect, handshake,
/// `task_list` view models (usable providers, the bundled catalog), parse the view.
#[divan::bench(sample_count = 50)]
fn models_json_new_connection(b: Bencher) {
    let f = fixture();
    b.bench(|| {
        f.rt.block_on(async {
            let stream = ok(UnixStream::connect(&f.socket).await);
            let client = ok(SocketClient::connect(stream, &f.socket).await);
            let view = ok(client.models(&ModelsQuery::default()).await);
            assert!(view.total > 0);
            client.close().await;
        });
    });
}

/// The process's CPU time (user + system) in clock ticks, from `/proc/self/stat`.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are the 12th and 13th after the name.
    let n = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    n(11) + n(12)
}

/// `ORCH_BENCH_PEEK_CPU=1 cargo bench --bench mcp`: the CPU time (client and backend, one
/// process) per `task_peek` with 8 clients, which load on a shared machine does not change
/// the way it changes the wall time.
fn peek_cpu() {
    let f = fixture();
    let args = match serde_json::json!({"taskId": "t1", "format": "json"}) {
        serde_json::Value::Object(o) => o,
        _ => unreachable!(),
    };
    let rounds = 10;
    let calls = (rounds * CLIENTS * PEEKS_PER_CLIENT) as f64;
    let (cpu0, wall0) = (cpu_ticks(), std::time::Instant::now());
    for _ in 0..rounds {
        f.rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for c in &f.clients {
                let peer = c.peer().clone();
                let args = args.clone();
                set.spawn(async move {
                    for _ in 0..PEEKS_PER_CLIENT {
                        let r = ok(peer
                            .call_tool(
                                CallToolRequestParams::new("task_peek")
                                    .with_arguments(args.clone()),
                            )
                            .await);
                        assert_ne!(r.is_error, Some(true));
                    }
                });
            }
            while let Some(r) = set.join_next().await {
                ok(r);
            }
        });
    }
    // USER_HZ: 100 on Linux.
    let ticks = 100.0;
    let cpu_us = (cpu_ticks() - cpu0) as f64 / ticks * 1e6 / calls;
    let wall_us = wall0.elapsed().as_secs_f64() * 1e6 / calls;
    eprintln!(
        "task_peek, 8 clients: {cpu_us:.1} µs of CPU per call, {wall_us:.1} µs of wall time per call ({:.0}/s)",
        1e6 / wall_us
    );
}
