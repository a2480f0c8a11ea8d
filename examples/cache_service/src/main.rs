//! `cache-service`: the HTTP service (`BIND`, default 127.0.0.1:8000), or with
//! `--demo` a short session against an in-process instance followed by a
//! load run comparing the cache levels. Settings: see `Config::from_env`.

use std::time::{Duration, Instant};

use cache_service::{app, percentile_ms, BoxError, CacheLevels, Config, User, X_CACHE};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let demo = std::env::args().skip(1).any(|a| a == "--demo");
    // The demo prints its own report: the service logs only warnings then.
    let default_filter = if demo { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .init();
    let config = Config::from_env()?;
    if demo {
        return run_demo(config).await;
    }
    let addr = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8000".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "listening");
    cache_service::serve(listener, config).await
}

/// Starts an instance on an ephemeral port; returns its base URL.
async fn start(config: Config) -> Result<String, BoxError> {
    let router = app(config).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(base)
}

struct Answer {
    status: StatusCode,
    source: String,
    ms: f64,
    body: String,
}

async fn call(
    client: &Client,
    method: Method,
    url: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> Result<Answer, BoxError> {
    let mut request = client.request(method, url).query(query);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let started = Instant::now();
    let response = request.send().await?;
    let status = response.status();
    let source = x_cache(&response);
    let body = response.text().await?;
    Ok(Answer {
        status,
        source,
        ms: started.elapsed().as_secs_f64() * 1000.0,
        body,
    })
}

fn show(what: &str, answer: &Answer) {
    let mut body = answer.body.clone();
    if body.len() > 70 {
        body.truncate(67);
        body.push_str("...");
    }
    println!(
        "  {what:<40} {:>3}  x-cache {:<9}  {:>7.2} ms  {body}",
        answer.status.as_u16(),
        answer.source,
        answer.ms
    );
}

async fn run_demo(config: Config) -> Result<(), BoxError> {
    let client = Client::builder().timeout(Duration::from_secs(10)).build()?;
    println!("cache-service demo: SQLite (source of truth) <- Redis <- L1 (redis-om ModelCache)");
    println!("Redis: {}\n", config.redis_url);

    let session = Config {
        levels: CacheLevels::L1AndRedis,
        database_url: "sqlite::memory:".to_owned(),
        ..config.clone()
    }
    .fresh();
    let base = start(session).await?;
    println!("session (CACHE_LEVELS=l1,redis) on {base}");
    let created = call(
        &client,
        Method::POST,
        &format!("{base}/users"),
        &[],
        Some(json!({"name": "Ada", "email": "ada@example.com"})),
    )
    .await?;
    show("POST /users {Ada}", &created);
    let user: User = serde_json::from_str(&created.body)?;
    let one = format!("{base}/users/{}", user.id);
    for _ in 0..3 {
        show(
            &format!("GET /users/{}", user.id),
            &call(&client, Method::GET, &one, &[], None).await?,
        );
    }
    let body = json!({"name": "Ada Lovelace", "email": "ada@example.com"});
    show(
        "PUT /users/{id} {Ada Lovelace}",
        &call(&client, Method::PUT, &one, &[], Some(body)).await?,
    );
    show(
        &format!("GET /users/{}", user.id),
        &call(&client, Method::GET, &one, &[], None).await?,
    );
    let list = format!("{base}/users");
    let by_name = [("name", "Ada Lovelace")];
    show(
        "GET /users?name=Ada Lovelace",
        &call(&client, Method::GET, &list, &by_name, None).await?,
    );
    // That search came from SQL and started loading the table into Redis.
    let mut warm = None;
    for _ in 0..50 {
        let answer = call(&client, Method::GET, &list, &by_name, None).await?;
        if answer.source == "hit-redis" {
            warm = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(answer) = warm {
        show("GET /users?name=Ada Lovelace (loaded)", &answer);
    }
    show(
        "GET /users?email=ada@example.com",
        &call(
            &client,
            Method::GET,
            &list,
            &[("email", "ada@example.com")],
            None,
        )
        .await?,
    );
    show(
        "DELETE /users/{id}",
        &call(&client, Method::DELETE, &one, &[], None).await?,
    );
    show(
        &format!("GET /users/{}", user.id),
        &call(&client, Method::GET, &one, &[], None).await?,
    );
    show(
        "GET /health",
        &call(&client, Method::GET, &format!("{base}/health"), &[], None).await?,
    );

    let users: usize = env_number("DEMO_USERS", 100);
    let requests: usize = env_number("DEMO_REQUESTS", 2000);
    println!(
        "\nload: {requests} sequential GET /users/{{id}} over {users} users (after one warm-up pass), per CACHE_LEVELS"
    );
    println!(
        "  {:<10} {:>9} {:>9} {:>9} {:>10}   answers",
        "levels", "p50 ms", "p99 ms", "mean ms", "req/s"
    );
    for levels in [
        CacheLevels::L1AndRedis,
        CacheLevels::RedisOnly,
        CacheLevels::None,
    ] {
        let instance = Config {
            levels,
            database_url: "sqlite::memory:".to_owned(),
            ..config.clone()
        }
        .fresh();
        let base = start(instance).await?;
        let mut ids = Vec::with_capacity(users);
        for i in 0..users {
            let body =
                json!({"name": format!("user {i}"), "email": format!("user{i}@example.com")});
            let answer = call(
                &client,
                Method::POST,
                &format!("{base}/users"),
                &[],
                Some(body),
            )
            .await?;
            ids.push(serde_json::from_str::<User>(&answer.body)?.id);
        }
        for id in &ids {
            call(
                &client,
                Method::GET,
                &format!("{base}/users/{id}"),
                &[],
                None,
            )
            .await?;
        }
        let urls: Vec<String> = ids.iter().map(|id| format!("{base}/users/{id}")).collect();
        let mut micros = Vec::with_capacity(requests);
        let mut sources = std::collections::BTreeMap::<String, usize>::new();
        let started = Instant::now();
        for i in 0..requests {
            let t = Instant::now();
            let response = client.get(&urls[i % urls.len()]).send().await?;
            let source = x_cache(&response);
            response.bytes().await?;
            micros.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
            *sources.entry(source).or_default() += 1;
        }
        let total = started.elapsed();
        micros.sort_unstable();
        let mean = micros.iter().map(|&m| f64::from(m)).sum::<f64>() / micros.len() as f64 / 1000.0;
        let answers: Vec<String> = sources.iter().map(|(s, n)| format!("{s} {n}")).collect();
        println!(
            "  {:<10} {:>9.3} {:>9.3} {:>9.3} {:>10.0}   {}",
            levels.as_str(),
            percentile_ms(&micros, 50.0),
            percentile_ms(&micros, 99.0),
            mean,
            requests as f64 / total.as_secs_f64(),
            answers.join(", ")
        );
    }
    println!("\n(latencies measured by the client, over HTTP on 127.0.0.1, one request at a time)");
    Ok(())
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The response's `x-cache` header (`-` without one).
fn x_cache(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(X_CACHE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}
