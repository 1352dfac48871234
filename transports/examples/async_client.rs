//! One async program, generic over `AsyncCommands`, run on smol and on
//! tokio: many tasks sharing one pipelined connection per server, a
//! multi-get, a call raced against a timer (and safely dropped), stats.
//!
//! ```text
//! cargo run -p memwire --features smol,tokio --example async_client -- \
//!     smol|tokio memcached://127.0.0.1:11211 [more servers...]
//! ```

use std::future::Future;
use std::pin::pin;
use std::process::ExitCode;
use std::task::Poll;
use std::time::{Duration, Instant};

use memwire::{AsyncCommands, Error, Expiry, StatValue, StoreOptions};

/// A task of the demo.
type Task = std::pin::Pin<Box<dyn Future<Output = Result<u64, Error>> + Send>>;

/// The demo, for any async client. `spawn` runs a task on the runtime,
/// `sleep` waits on its timer.
async fn demo<C, J, T>(
    client: C,
    spawn: impl Fn(Task) -> J,
    sleep: impl Fn(Duration) -> T,
) -> Result<(), Error>
where
    C: AsyncCommands + Clone + Send + Sync + 'static,
    J: Future<Output = Result<u64, Error>>,
    T: Future<Output = ()>,
{
    client.set("greeting", "hello").await?;
    let options = StoreOptions::new().flags(12).expiry(Expiry::secs(30));
    client.set_with("with_flags", "xXx", options).await?;
    let v = client.get("with_flags").await?;
    println!("get with_flags -> {v:?}");
    match client.add("greeting", "again").await {
        Err(Error::NotStored) => println!("add greeting -> NotStored (it exists)"),
        other => println!("add greeting -> {other:?}"),
    }
    client.set("counter", "0").await?;

    // 200 tasks at once: their requests share one connection per server
    // and are in flight together.
    let started = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let client = client.clone();
            spawn(Box::pin(async move {
                let key = format!("task:{i}");
                let value = format!("value of {key}");
                client.set(&key, value.as_str()).await?;
                let got = client.get(&key).await?.map(|v| v.data);
                assert_eq!(got.as_deref(), Some(value.as_bytes()), "{key}");
                client.incr("counter", 1).await
            }))
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    println!(
        "200 tasks: set+get+incr each in {:?}; counter = {}",
        started.elapsed(),
        client.incr("counter", 0).await?
    );

    // One request per server, hits in request order.
    let hits = client
        .get_multi(["task:3", "missing", "task:1", "greeting"])
        .await?;
    let keys: Vec<_> = hits
        .iter()
        .map(|v| String::from_utf8_lossy(&v.key).into_owned())
        .collect();
    println!("get_multi -> {keys:?}");

    // A call that loses a race against a timer is dropped: its request is
    // abandoned, and its reply never reaches anyone else.
    let mut call = pin!(client.get("greeting"));
    let mut timer = pin!(sleep(Duration::from_micros(1)));
    let raced = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = call.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        timer.as_mut().poll(cx).map(|_| None)
    })
    .await;
    println!("get raced against 1 µs -> {raced:?}");
    let v = client.get("greeting").await?.map(|v| v.data);
    println!("next get on the same connection -> {v:?}");

    for (server, stats) in client.stats().await {
        let stats = stats?;
        let items = stats.get("curr_items").and_then(StatValue::as_u64);
        let conns = stats.get("curr_connections").and_then(StatValue::as_u64);
        println!("{server}: curr_items {items:?}, curr_connections {conns:?}");
    }
    client.close().await;
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let runtime = args.next().unwrap_or_default();
    let servers: Vec<String> = args.collect();
    let io_timeout = Duration::from_millis(500);
    let result = match runtime.as_str() {
        "smol" => memwire::smol::Client::builder()
            .servers(&servers)
            .io_timeout(io_timeout)
            .build()
            .map_err(|e| e.to_string())
            .and_then(|client| {
                smol::block_on(demo(client, smol::spawn, |d| async move {
                    smol::Timer::after(d).await;
                }))
                .map_err(|e| e.to_string())
            }),
        "tokio" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                let client = memwire::tokio::Client::builder()
                    .servers(&servers)
                    .io_timeout(io_timeout)
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(demo(
                    client,
                    |task| {
                        let handle = tokio::spawn(task);
                        async move { handle.await.unwrap_or(Err(Error::Closed)) }
                    },
                    tokio::time::sleep,
                ))
                .map_err(|e| e.to_string())
            }),
        _ => Err("usage: async_client smol|tokio SERVER...".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
