//! Several instances on one database and one S3 store: a background import survives the
//! `kill -9` of the instance running it, and the outbox is handled once across instances.
//!
//! Instance A is a child process (this test binary, running only
//! [`instance_to_kill_in_a_child_process`]) so that it can be killed for real: no destructor,
//! no graceful shutdown, its database connections cut by the kernel.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::helpers::{Receiver, TestApp, spawn_app_with, spawn_on};
use reemploi_api::store::entities::{event, item, job};

/// Set in the child process: the database, backend and settings of instance A, as JSON.
const CHILD: &str = "REEMPLOI_TEST_INSTANCE_A";

/// Rows of the import: enough for a debug build to be still writing when A is killed.
const ROWS: usize = 40_000;

/// Instance A; does nothing unless started by the test below in its own process. It prints its
/// address, then serves until it is killed.
#[tokio::test]
async fn instance_to_kill_in_a_child_process() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let spec: serde_json::Value = serde_json::from_str(&spec).expect("child spec");
    let vars: Vec<(String, String)> =
        serde_json::from_value(spec["vars"].clone()).expect("child vars");
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let a = spawn_on(
        spec["url"].as_str().expect("url"),
        spec["backend"].as_str().expect("backend"),
        &vars,
    )
    .await;
    println!("LISTENING {}", a.base);
    tokio::time::sleep(Duration::from_secs(300)).await;
}

/// Starts instance A in a child process on `b`'s database; returns it and its address. The
/// child is killed if the test fails. (Waiting must not block this runtime: `b` serves on it and
/// may hold the SQLite write lock mid-transaction.)
async fn start_instance_a(
    b: &TestApp,
    vars: &[(String, String)],
) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let spec = json!({ "url": b.database_url, "backend": b.backend, "vars": vars });
    let log = b.settings.data_dir.join("instance-a.log");
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "instances::instance_to_kill_in_a_child_process",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, spec.to_string())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("instance A starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let listening = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            // The harness's "test … " starts the line.
            if let Some((_, base)) = line.split_once("LISTENING ") {
                return Some(base.trim().to_owned());
            }
        }
        None
    })
    .await;
    let Ok(Some(base)) = listening else {
        panic!(
            "instance A did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    // Keep reading its output so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

fn inventory(rows: usize) -> Vec<u8> {
    let mut csv =
        String::from("inventory_number;category;brand;model;acquisition_date;acquisition_value\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "INV-KILL-{i:06};laptop;Dell;Latitude 5490;2020-01-15;899,00\n"
        ));
    }
    csv.into_bytes()
}

async fn job_row(b: &TestApp, id: uuid::Uuid) -> job::Model {
    job::Entity::find_by_id(id)
        .one(&b.db)
        .await
        .expect("read job")
        .expect("job")
}

#[tokio::test]
async fn an_import_on_a_killed_instance_is_run_again_by_another_and_the_outbox_runs_once() {
    let Some((endpoint, access, secret)) = crate::photos::s3_env() else {
        return;
    };
    let bucket = format!(
        "reemploi-{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let vars: Vec<(String, String)> = [
        ("S3_ENDPOINT", endpoint.as_str()),
        ("S3_BUCKET", &bucket),
        ("S3_ACCESS_KEY", &access),
        ("S3_SECRET_KEY", &secret),
        ("REEMPLOI_IMPORT_SYNC_MAX_BYTES", "1024"),
        ("REEMPLOI_JOB_LEASE_SECS", "3"),
        ("REEMPLOI_WEBHOOK_ALLOW", "127.0.0.1"),
        ("REEMPLOI_WEBHOOK_RETRY_BASE_MS", "300"),
        ("REEMPLOI_WEBHOOK_RETRY_MAX_SECS", "2"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let b = spawn_app_with(&borrowed).await;
    let town = b.register_verified("public_body").await;
    let receiver = Receiver::start(&[]).await;
    let subscribed = b
        .post(
            &format!("/v1/organisations/{}/webhooks", town.id),
            Some(&town.token),
            json!({ "url": receiver.url, "event_types": ["site.*"] }),
        )
        .await;
    assert_eq!(subscribed.status, 201, "{}", subscribed.text);

    let (mut child, a_base) = start_instance_a(&b, &vars).await;
    let a = b.reached_at(a_base);
    // Both instances serve and both workers drain the one outbox: each event is delivered once.
    for i in 0..6 {
        let on = if i % 2 == 0 { &a } else { &b };
        on.site(&town, 47.6, 1.3).await;
    }
    let got = receiver.wait_for(6, 20).await;
    assert_eq!(got.len(), 6);

    // A takes a large import as a background job (its file goes to the S3 store)...
    let r = a
        .post_raw("/v1/items/import", &town.token, inventory(ROWS), "text/csv")
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id: uuid::Uuid = r.body["id"]
        .as_str()
        .expect("job id")
        .parse()
        .expect("uuid");
    // ...and is killed while it writes, once its progress shows in the database.
    let started = Instant::now();
    loop {
        let row = job_row(&b, id).await;
        assert_eq!(
            row.status, "running",
            "the import is still running when A is killed"
        );
        if row.processed > 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // While A lives, B leaves its job alone.
    assert_eq!(job_row(&b, id).await.attempt, 1);
    child.start_kill().expect("kill -9 instance A");
    child.wait().await.expect("A is gone");
    let killed_at = Instant::now();
    assert_eq!(
        job_row(&b, id).await.status,
        "running",
        "A was killed mid-import"
    );

    // B sees the lease run out, takes the job over and runs it again from the kept file.
    let done = crate::hostile::finished_job(&b, &town.token, &format!("/v1/jobs/{id}")).await;
    let took = killed_at.elapsed();
    assert_eq!(done.body["status"], "succeeded", "{}", done.text);
    assert_eq!(done.body["report"]["created"], ROWS, "{}", done.text);
    let row = job_row(&b, id).await;
    assert_eq!(row.attempt, 2, "run once more, by B");
    assert_eq!(row.input_key, None);
    eprintln!("job taken over and finished {took:?} after the kill");
    // All or nothing: the killed run left nothing, the second wrote every row once.
    let organisation: uuid::Uuid = town.id.parse().expect("uuid");
    let items = item::Entity::find()
        .filter(item::Column::OrganisationId.eq(organisation))
        .count(&b.db)
        .await
        .expect("count");
    assert_eq!(items, ROWS as u64);
    let imported = event::Entity::find()
        .filter(event::Column::Kind.eq("inventory_imported"))
        .filter(event::Column::OrganisationId.eq(Some(organisation)))
        .count(&b.db)
        .await
        .expect("count");
    assert_eq!(imported, 1, "one import fact");
    // The kept file is gone from the store.
    let blobs = reemploi_api::blobs::Blobs::from_settings(&b.settings)
        .await
        .expect("store");
    // (deleted just after the outcome is committed)
    let key = reemploi_api::importer::input_key(id);
    let mut kept = blobs.get(&key).await;
    for _ in 0..50 {
        if matches!(kept, Err(reemploi_api::blobs::BlobError::NotFound)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        kept = blobs.get(&key).await;
    }
    assert!(
        matches!(kept, Err(reemploi_api::blobs::BlobError::NotFound)),
        "{:?}",
        kept.map(|b| b.len())
    );

    // B alone now: the outbox goes on, still once per event.
    for _ in 0..2 {
        b.site(&town, 47.6, 1.3).await;
    }
    let got = receiver.wait_for(8, 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = if receiver.got().len() > got.len() {
        receiver.got()
    } else {
        got
    };
    let ids: BTreeSet<&String> = got.iter().map(|m| &m.headers["webhook-id"]).collect();
    assert_eq!(got.len(), 8, "each event once");
    assert_eq!(ids.len(), 8, "no event twice");
}
