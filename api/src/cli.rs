//! The `reemploi` command line: serve, migrate, print the spec, bootstrap the operator, back up
//! and restore, check health.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use reemploi_migrations::{Migrator, MigratorTrait};

use crate::config::Settings;

/// Réemploi: the second life of public IT equipment.
#[derive(Debug, Parser)]
#[command(name = "reemploi", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply or inspect database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the OpenAPI spec (YAML), or write it to a file.
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Print JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
    /// Administration tasks.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Rebuild a search index (or both) from the database, with a progress bar. With the
    /// embedded engine the service must be stopped (it holds the index); with Meilisearch it may run.
    Reindex {
        /// `lots` or `catalogue`; both when omitted.
        #[arg(value_parser = ["lots", "catalogue"])]
        index: Option<String>,
    },
    /// Checkpoints of the event log (docs/tamper-evidence.md).
    Checkpoint {
        #[command(subcommand)]
        action: CheckpointAction,
    },
    /// Copy the database, the local blobs and the checkpoint key into an empty directory, while
    /// the service runs, with a manifest of checksums (docs/backups.md).
    Backup {
        /// The directory to create (or an empty one).
        #[arg(long)]
        to: PathBuf,
    },
    /// Check a backup's checksums and copy it into `REEMPLOI_DATA_DIR` (stop the service first).
    Restore {
        /// The backup directory (with its `manifest.json`).
        #[arg(long)]
        from: PathBuf,
        /// Replace a database already in the data directory.
        #[arg(long)]
        force: bool,
    },
    /// Ask the local service whether it is live (`GET /health/live` on the port of
    /// `REEMPLOI_ADDR`, 3 s timeout): exit 0 when it answers 200, 1 with the reason otherwise.
    Healthcheck,
    /// Benchmarks, writing their results to a file.
    Bench {
        #[command(subcommand)]
        which: BenchAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchAction {
    /// Import generated devices into a fresh database and measure rows per second.
    Import {
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        /// A database to use instead of a fresh SQLite file (`postgres://…/db`, emptied first by you).
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value = "bench-results/import.json")]
        output: PathBuf,
    },
    /// Render a convention de cession of N devices several times and time it.
    Documents {
        #[arg(long, default_value_t = 500)]
        items: usize,
        #[arg(long, default_value_t = 10)]
        runs: usize,
        #[arg(long, default_value = "bench-results/documents.json")]
        output: PathBuf,
    },
    /// Match generated open request lines against published devices and expected supply
    /// (docs/matching.md) and time it.
    Matching {
        #[arg(long, default_value_t = 10_000)]
        lines: usize,
        #[arg(long, default_value_t = 100_000)]
        devices: usize,
        #[arg(long, default_value = "bench-results/matching.json")]
        output: PathBuf,
    },
    /// Drive authenticated `GET /v1/items/{id}` with a fixed number of connections, against a
    /// bare poem-openapi handler measured in the same run: req/s, p50/p99 and CPU-µs per
    /// request (README, "Benchmarks").
    Http {
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Seconds per run (each round runs the bare handler, then the service).
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// A PostgreSQL server (`postgres://user@host:port/any_db`): the bench creates a fresh
        /// database there and drops it at the end. Without it, a throwaway SQLite file.
        #[arg(long)]
        postgres: Option<String>,
        #[arg(long, default_value = "bench-results/http-sqlite.json")]
        output: PathBuf,
    },
    /// The load child of `bench http` (run by it).
    #[command(hide = true)]
    HttpLoad {
        #[arg(long)]
        url: String,
        #[arg(long)]
        connections: usize,
        #[arg(long)]
        seconds: f64,
    },
    /// Catalogue search as a client sees it: `GET /v1/catalogue/search` against the engine
    /// alone with the same query, at 1 and 4 concurrent clients, over `items` available devices
    /// stored and indexed by the service (the engine of `MEILI_URL` when set, else embedded).
    SearchHttp {
        #[arg(long, default_value_t = 100_000)]
        items: u64,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// A PostgreSQL server, as for `bench http`.
        #[arg(long)]
        postgres: Option<String>,
        #[arg(long, default_value = "bench-results/search-http-sqlite.json")]
        output: PathBuf,
    },
    /// Load generated catalogue devices into the embedded engine (and Meilisearch when
    /// `MEILI_URL` is set) and measure the latency of a fixed query mix.
    Search {
        #[arg(long, default_value_t = 1_000_000)]
        items: u64,
        /// Queries of the mix to time (after a warm-up).
        #[arg(long, default_value_t = 2000)]
        queries: u64,
        #[arg(long, default_value = "bench-results/search.json")]
        output: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the last migration (or `--steps N`).
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether they are applied.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum CheckpointAction {
    /// Sign every stream's head now and print the checkpoint (JSON), or write it to a file.
    Take {
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Print the newest checkpoint (or the one with `--id`) as JSON, to keep elsewhere.
    Export {
        #[arg(long)]
        id: Option<uuid::Uuid>,
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Check the database against a kept checkpoint file; exits non-zero when the history was
    /// altered since, or the checkpoint is not authentic.
    Verify {
        /// The checkpoint as exported (JSON).
        file: PathBuf,
        /// `fr` (default) or `en`.
        #[arg(long, default_value = "fr")]
        lang: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create the platform operator organisation (if needed) and an admin account in it.
    CreateOperator {
        /// The operator's e-mail (sign-in name).
        #[arg(long)]
        email: String,
        /// Name shown in the interface.
        #[arg(long, default_value = "Opérateur Réemploi")]
        name: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Load an open register stock file (CSV) into the database: SIRENE establishments
    /// (`StockEtablissement_utf8.csv`) or RNA associations (`rna_waldec_*.csv`). Registrations are
    /// then checked against it. Rows are upserted by identifier: a newer stock replaces an older.
    ImportRegister {
        /// `sirene` or `rna`.
        #[arg(long, value_parser = ["sirene", "rna"])]
        register: String,
        /// The CSV file.
        file: std::path::PathBuf,
    },
}

/// Runs a command that is not `serve`.
pub async fn run(settings: Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => crate::app::serve(settings).await,
        Command::Openapi { output, json } => {
            let db = sea_orm::DatabaseConnection::default();
            let blobs = crate::blobs::Blobs::Local(crate::blobs::LocalBlobs::detached());
            let search = crate::search::Search::Embedded(std::sync::Arc::new(
                crate::search::embedded::Embedded::in_ram()?,
            ));
            let state = crate::state::AppState::new(db, settings, blobs, search);
            let service = crate::http::service(&state);
            let text = if json {
                serde_json::to_string_pretty(&crate::http::spec_value(&service))?
            } else {
                crate::http::spec_yaml(&service)
            };
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::Migrate { action } => {
            let db = crate::store::connect(&settings)
                .await
                .context("connecting to the database")?;
            match action {
                MigrateAction::Up => Migrator::up(&db, None).await?,
                MigrateAction::Down { steps } => Migrator::down(&db, Some(steps)).await?,
                MigrateAction::Status => {
                    let applied: Vec<String> = Migrator::get_applied_migrations(&db)
                        .await?
                        .iter()
                        .map(|m| m.name().to_owned())
                        .collect();
                    for m in Migrator::migrations() {
                        let state = if applied.iter().any(|a| a == m.name()) {
                            "applied"
                        } else {
                            "pending"
                        };
                        println!("{state:8} {}", m.name());
                    }
                }
            }
            Ok(())
        }
        Command::Bench {
            which:
                BenchAction::Import {
                    rows,
                    database_url,
                    output,
                },
        } => crate::bench::import(rows, database_url, &output).await,
        Command::Bench {
            which:
                BenchAction::Search {
                    items,
                    queries,
                    output,
                },
        } => crate::bench::search(&settings, items, queries, &output).await,
        Command::Bench {
            which:
                BenchAction::Http {
                    connections,
                    seconds,
                    rounds,
                    postgres,
                    output,
                },
        } => crate::bench_http::run(connections, seconds, rounds, postgres, &output).await,
        Command::Bench {
            which:
                BenchAction::SearchHttp {
                    items,
                    seconds,
                    rounds,
                    postgres,
                    output,
                },
        } => crate::bench_http::search(items, seconds, rounds, postgres, &output).await,
        Command::Bench {
            which:
                BenchAction::HttpLoad {
                    url,
                    connections,
                    seconds,
                },
        } => crate::bench_http::load(url, connections, seconds).await,
        Command::Bench {
            which:
                BenchAction::Documents {
                    items,
                    runs,
                    output,
                },
        } => crate::bench::documents(items, runs, &output),
        Command::Bench {
            which:
                BenchAction::Matching {
                    lines,
                    devices,
                    output,
                },
        } => crate::bench::matching(lines, devices, &output),
        Command::Reindex { index } => {
            let db = crate::store::connect(&settings)
                .await
                .context("connecting to the database")?;
            crate::store::migrate(&db)
                .await
                .context("applying migrations")?;
            let search = crate::search::Search::from_settings(&settings)
                .await
                .context(
                    "opening the search engine (with the embedded engine, stop the service first)",
                )?;
            let which: Vec<crate::search::IndexName> = match index.as_deref() {
                Some(name) => crate::search::IndexName::parse(name).into_iter().collect(),
                None => crate::search::IndexName::ALL.to_vec(),
            };
            for name in which {
                let n = crate::search::indexer::rebuild(
                    &db,
                    &search,
                    name,
                    crate::search::indexer::progress_bar(name.as_str()),
                )
                .await
                .with_context(|| format!("rebuilding the {} index", name.as_str()))?;
                println!(
                    "{}: {n} documents indexed with {}",
                    name.as_str(),
                    search.engine_name()
                );
            }
            Ok(())
        }
        Command::Checkpoint { action } => checkpoint(&settings, action).await,
        Command::Backup { to } => {
            let manifest = crate::backup::backup(&settings, &to).await?;
            println!("{}\nwritten to {}", manifest.summary(), to.display());
            Ok(())
        }
        Command::Restore { from, force } => {
            let manifest = crate::backup::restore(&settings, &from, force)?;
            println!(
                "{}\nrestored into {}",
                manifest.summary(),
                settings.data_dir.display()
            );
            Ok(())
        }
        Command::Healthcheck => healthcheck(&settings).await,
        Command::Admin {
            action:
                AdminAction::CreateOperator {
                    email,
                    name,
                    password_stdin,
                },
        } => {
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the password")?;
                Some(s.trim_end_matches(['\n', '\r']).to_owned())
            } else {
                None
            };
            let db = crate::store::connect(&settings)
                .await
                .context("connecting to the database")?;
            crate::store::migrate(&db)
                .await
                .context("applying migrations")?;
            let created = crate::admin::create_operator(&db, &email, &name, password).await?;
            println!(
                "operator account: {} (user {}, organisation {})",
                created.email, created.user_id, created.organisation_id
            );
            if let Some(p) = created.generated_password {
                println!("generated password (shown once): {p}");
            }
            Ok(())
        }
        Command::Admin {
            action: AdminAction::ImportRegister { register, file },
        } => {
            let register = crate::registers::Register::parse(&register)
                .context("register must be `sirene` or `rna`")?;
            let input = std::io::BufReader::new(
                std::fs::File::open(&file)
                    .with_context(|| format!("opening {}", file.display()))?,
            );
            let db = crate::store::connect(&settings)
                .await
                .context("connecting to the database")?;
            crate::store::migrate(&db)
                .await
                .context("applying migrations")?;
            let done = crate::registers::import(&db, register, input).await?;
            println!(
                "{}: {} rows loaded ({} active), {} skipped (no valid identifier)",
                register.as_str(),
                done.rows,
                done.active,
                done.skipped
            );
            Ok(())
        }
    }
}

/// `GET /health/live` on the loopback address of the configured port.
async fn healthcheck(settings: &Settings) -> anyhow::Result<()> {
    let host = if settings.addr.is_ipv6() && settings.addr.ip().is_loopback() {
        "[::1]"
    } else {
        "127.0.0.1"
    };
    let url = format!("http://{host}:{}/health/live", settings.addr.port());
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .context("building the HTTP client")?;
    let answer = client
        .get(&url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {}", without_newlines(&e)))?;
    match answer.status().as_u16() {
        200 => Ok(()),
        other => anyhow::bail!("{url} answered {other}"),
    }
}

fn without_newlines(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.replace('\n', " ")
}

async fn checkpoint(settings: &Settings, action: CheckpointAction) -> anyhow::Result<()> {
    use crate::http::checkpoints::{CheckpointDocument, verification};
    use poem_openapi::types::{ParseFromJSON, ToJSON};
    use sea_orm::EntityTrait;

    let db = crate::store::connect(settings)
        .await
        .context("connecting to the database")?;
    crate::store::migrate(&db)
        .await
        .context("applying migrations")?;
    let signer = std::sync::Arc::new(crate::signing::Signer::load(settings));
    let write_out = |doc: CheckpointDocument, output: Option<PathBuf>| -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(&doc.to_json().unwrap_or_default())?;
        match output {
            Some(path) => std::fs::write(&path, text + "\n")
                .with_context(|| format!("writing {}", path.display())),
            None => {
                println!("{text}");
                Ok(())
            }
        }
    };
    match action {
        CheckpointAction::Take { output } => {
            let m = crate::commands::checkpoints::take(&db, &signer, "system".to_owned())
                .await
                .map_err(|e| anyhow::anyhow!("taking the checkpoint: {e:?}"))?;
            write_out(m.into(), output)
        }
        CheckpointAction::Export { id, output } => {
            let m = match id {
                Some(id) => {
                    crate::store::entities::checkpoint::Entity::find_by_id(id)
                        .one(&db)
                        .await?
                }
                None => crate::store::checkpoints::latest(&db).await?,
            }
            .context("no such checkpoint")?;
            write_out(m.into(), output)
        }
        CheckpointAction::Verify { file, lang } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let value: serde_json::Value =
                serde_json::from_str(&text).context("the file is not JSON")?;
            let doc = CheckpointDocument::parse_from_json(Some(value))
                .map_err(|e| anyhow::anyhow!("not a checkpoint: {}", e.into_message()))?;
            let kept = doc.kept();
            let check = crate::commands::checkpoints::check(&db, &signer, &kept)
                .await
                .map_err(|e| anyhow::anyhow!("checking: {e:?}"))?;
            let lang = if lang == "en" {
                crate::error::Lang::En
            } else {
                crate::error::Lang::Fr
            };
            let v = verification(&kept, &check, lang);
            println!("{}", v.message);
            for p in &v.problems {
                println!("- {}", p.message);
            }
            if v.valid {
                Ok(())
            } else {
                anyhow::bail!("{}", v.message)
            }
        }
    }
}
