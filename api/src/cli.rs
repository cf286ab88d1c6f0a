//! The `reemploi` command line: serve, migrate, print the spec, bootstrap the operator.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use reemploi_domain::email::Email;
use reemploi_domain::organisation::{OrganisationKind, Role, VerificationStatus, check_password};
use reemploi_migrations::{Migrator, MigratorTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::config::Settings;
use crate::store::entities::{membership, organisation, user};
use crate::store::events::{NewEvent, organisation_stream};

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
}

/// Runs a command that is not `serve`.
pub async fn run(settings: Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => crate::app::serve(settings).await,
        Command::Openapi { output, json } => {
            let db = sea_orm::DatabaseConnection::default();
            let state = crate::state::AppState::new(db, settings);
            let service = crate::http::service(&state);
            let text = if json {
                serde_json::to_string_pretty(&crate::http::spec_value(&service))?
            } else {
                crate::http::spec_yaml(&service)
            };
            match output {
                Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::Migrate { action } => {
            let db = crate::store::connect(&settings).await.context("connecting to the database")?;
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
                        let state = if applied.iter().any(|a| a == m.name()) { "applied" } else { "pending" };
                        println!("{state:8} {}", m.name());
                    }
                }
            }
            Ok(())
        }
        Command::Admin { action: AdminAction::CreateOperator { email, name, password_stdin } } => {
            create_operator(settings, &email, &name, password_stdin).await
        }
    }
}

async fn create_operator(settings: Settings, email: &str, name: &str, password_stdin: bool) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let (db_settings, _) = (settings, ());
    let db = crate::store::connect(&db_settings).await.context("connecting to the database")?;
    crate::store::migrate(&db).await.context("applying migrations")?;
    let existing_user = user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(&db).await?;
    let mut generated = None;
    let password_hash = if existing_user.is_some() {
        None
    } else {
        let password = if password_stdin {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading the password")?;
            s.trim_end_matches(['\n', '\r']).to_owned()
        } else {
            let p = crate::security::new_token("");
            generated = Some(p.clone());
            p
        };
        if let Err(e) = check_password(&password) {
            bail!("password refused: {e}");
        }
        Some(crate::security::hash_password(&password)?)
    };

    let txn = crate::store::begin_write(&db).await?;
    let now = crate::store::now();
    let operator = organisation::Entity::find()
        .filter(organisation::Column::Kind.eq(OrganisationKind::Operator.as_str()))
        .one(&txn)
        .await?;
    let org_id = match operator {
        Some(o) => o.id,
        None => {
            let id = crate::store::new_id();
            organisation::Entity::insert(organisation::ActiveModel {
                id: Set(id),
                kind: Set(OrganisationKind::Operator.as_str().into()),
                name: Set("Opérateur de la plateforme Réemploi".into()),
                siren: Set(None),
                siret: Set(None),
                rna: Set(None),
                insee_code: Set(String::new()),
                departement: Set(String::new()),
                address: Set(String::new()),
                postcode: Set(String::new()),
                city: Set(String::new()),
                latitude: Set(None),
                longitude: Set(None),
                contact_email: Set(Some(email.as_str().to_owned())),
                phone: Set(None),
                status: Set(VerificationStatus::Verified.as_str().into()),
                status_reason: Set(None),
                public_body_type: Set(None),
                esus_reference: Set(None),
                esus_expires_on: Set(None),
                beneficiary_category: Set(None),
                public_utility: Set(false),
                statutory_purpose: Set(None),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .exec_without_returning(&txn)
            .await?;
            crate::store::events::append(
                &txn,
                NewEvent {
                    stream: organisation_stream(id),
                    organisation_id: Some(id),
                    actor: "system".into(),
                    kind: "operator_bootstrapped",
                    payload: serde_json::json!({}),
                },
            )
            .await?;
            id
        }
    };
    let user_id = match existing_user {
        Some(u) => u.id,
        None => {
            let id = crate::store::new_id();
            user::Entity::insert(user::ActiveModel {
                id: Set(id),
                email: Set(email.as_str().to_owned()),
                display_name: Set(name.to_owned()),
                password_hash: Set(password_hash),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .exec_without_returning(&txn)
            .await?;
            id
        }
    };
    let already = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .filter(membership::Column::OrganisationId.eq(org_id))
        .one(&txn)
        .await?;
    if already.is_none() {
        membership::Entity::insert(membership::ActiveModel {
            id: Set(crate::store::new_id()),
            user_id: Set(user_id),
            organisation_id: Set(org_id),
            role: Set(Role::Admin.as_str().into()),
            created_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        crate::store::events::append(
            &txn,
            NewEvent {
                stream: organisation_stream(org_id),
                organisation_id: Some(org_id),
                actor: "system".into(),
                kind: "member_added",
                payload: serde_json::json!({ "user_id": user_id, "role": "admin" }),
            },
        )
        .await?;
    }
    txn.commit().await?;
    println!("operator account: {} (user {user_id}, organisation {org_id})", email.as_str());
    if let Some(p) = generated {
        println!("generated password (shown once): {p}");
    }
    Ok(())
}
