//! The async smol client: many tasks sharing one pipelined connection,
//! a multi-get, a call raced against a timer (and safely dropped), stats.
//!
//! ```text
//! cargo run -p memwire --no-default-features --features smol \
//!     --example smol_client -- memcached://127.0.0.1:11211
//! ```
//!
//! Give several servers to spread the keys over them.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use memwire::smol::Client;
use memwire::{Command, Error, StatValue};

async fn demo(client: Client) -> Result<(), Error> {
    // Plain calls.
    client.set("greeting", "hello").await?;
    client
        .store(Command::set("with_flags", "xXx").flags(12).exptime(30))
        .await?;
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
            smol::spawn(async move {
                let key = format!("task:{i}");
                let value = format!("value of {key}");
                client.set(&key, value.clone()).await?;
                let got = client.get(&key).await?.map(|v| v.data);
                assert_eq!(got.as_deref(), Some(value.as_bytes()), "{key}");
                client.incr("counter", 1).await
            })
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

    // One request per server, results in request order.
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
    let raced = smol::future::or(async { Some(client.get("greeting").await) }, async {
        smol::Timer::after(Duration::from_micros(1)).await;
        None
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
    let servers: Vec<String> = std::env::args().skip(1).collect();
    let servers = if servers.is_empty() {
        vec!["memcached://127.0.0.1:11211".to_string()]
    } else {
        servers
    };
    let client = match Client::builder()
        .servers(&servers)
        .io_timeout(Duration::from_millis(500))
        .build::<Client>()
    {
        Ok(client) => client,
        Err(e) => {
            eprintln!("bad configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    match smol::block_on(demo(client)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
