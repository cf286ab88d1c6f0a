//! Person records: the names and e-mail addresses that events refer to as `person/<id>`, so
//! that a hashed payload never holds them and erasure can blank them (`docs/personal-data.md`).
//! Also the one place that finds and blanks a person's name in every table that holds names.

use reemploi_domain::personal::{ERASED_NAME, redact};
use sea_orm::sea_query::{Alias, Cond, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::entities::person;

/// The reference written in payloads.
pub fn reference(id: Uuid) -> String {
    format!("person/{id}")
}

/// Records a person named in a write (a signatory, an operator, an invitee) and returns the
/// reference to put in the event instead of the name. The same person recorded again by the
/// same organisation gets the same record.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    user_id: Option<Uuid>,
    organisation_id: Option<Uuid>,
    name: Option<&str>,
    email: Option<&str>,
) -> Result<String, DbErr> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let email = email.map(str::trim).filter(|n| !n.is_empty());
    let mut q = person::Entity::find().filter(person::Column::ErasedAt.is_null());
    q = match user_id {
        Some(u) => q.filter(person::Column::UserId.eq(u)),
        None => q.filter(person::Column::UserId.is_null()),
    };
    q = match organisation_id {
        Some(o) => q.filter(person::Column::OrganisationId.eq(o)),
        None => q.filter(person::Column::OrganisationId.is_null()),
    };
    q = match name {
        Some(n) => q.filter(person::Column::Name.eq(n)),
        None => q.filter(person::Column::Name.is_null()),
    };
    q = match email {
        Some(e) => q.filter(person::Column::Email.eq(e)),
        None => q.filter(person::Column::Email.is_null()),
    };
    if let Some(found) = q.order_by_asc(person::Column::Id).one(db).await? {
        return Ok(reference(found.id));
    }
    let id = super::new_id();
    person::Entity::insert(person::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        organisation_id: Set(organisation_id),
        name: Set(name.map(str::to_owned)),
        email: Set(email.map(str::to_owned)),
        created_at: Set(super::now()),
        erased_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(reference(id))
}

/// The person records that name a user: theirs, those recorded with their address, and those
/// recorded with their name by one of `organisations` (theirs).
pub async fn of_user<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    email: &str,
    name: &str,
    organisations: &[Uuid],
) -> Result<Vec<person::Model>, DbErr> {
    let mut any = Cond::any()
        .add(person::Column::UserId.eq(user_id))
        .add(person::Column::Email.eq(email.to_owned()))
        .add(person::Column::Email.eq(email.to_lowercase()));
    if !organisations.is_empty() {
        let spelled = spellings(&[name]);
        if !spelled.is_empty() {
            any = any.add(
                Cond::all()
                    .add(person::Column::OrganisationId.is_in(organisations.to_vec()))
                    .add(person::Column::Name.is_in(spelled)),
            );
        }
    }
    person::Entity::find()
        .filter(any)
        .order_by_asc(person::Column::Id)
        .all(db)
        .await
}

/// Blanks the records that name a user (as [`of_user`] finds them); returns how many.
pub async fn erase_records<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    email: &str,
    name: &str,
    organisations: &[Uuid],
) -> Result<usize, DbErr> {
    let found = of_user(db, user_id, email, name, organisations).await?;
    let now = super::now();
    for p in &found {
        person::Entity::update_many()
            .col_expr(person::Column::Name, Expr::value(Option::<String>::None))
            .col_expr(person::Column::Email, Expr::value(Option::<String>::None))
            .col_expr(person::Column::ErasedAt, Expr::value(Some(now)))
            .filter(person::Column::Id.eq(p.id))
            .exec(db)
            .await?;
    }
    Ok(found.len())
}

/// The spellings a name or address is searched under: as given, lower and upper case. Stored
/// text is then matched ignoring case by [`redact`].
pub fn spellings(needles: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for n in needles
        .iter()
        .map(|n| n.trim())
        .filter(|n| n.chars().count() >= 3)
    {
        for v in [n.to_owned(), n.to_lowercase(), n.to_uppercase()] {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// Where to look for a person's name: a text column of a table keyed by a UUID `id`, and the
/// organisation columns that limit the search to the person's organisations (none: every row,
/// for tables whose rows name no organisation, such as queued mails).
#[derive(Debug, Clone, Copy)]
pub struct NamedColumn {
    pub table: &'static str,
    pub column: &'static str,
    pub organisation_columns: &'static [&'static str],
}

/// In `at`, replaces every mention of `needles` by the erased name, except in rows `keep`, in
/// rows of `organisations` when `at` names organisation columns; returns the ids of the rows
/// changed.
pub async fn redact_column<C: ConnectionTrait>(
    db: &C,
    at: NamedColumn,
    needles: &[&str],
    organisations: &[Uuid],
    keep: &[Uuid],
) -> Result<Vec<Uuid>, DbErr> {
    let NamedColumn {
        table,
        column,
        organisation_columns,
    } = at;
    let spelled = spellings(needles);
    if spelled.is_empty() {
        return Ok(Vec::new());
    }
    let mut any = Cond::any();
    for s in &spelled {
        any = any.add(Expr::col(Alias::new(column)).like(format!("%{}%", escape_like(s))));
    }
    let mut cond = Cond::all().add(any);
    if !organisation_columns.is_empty() {
        let mut of = Cond::any();
        for c in organisation_columns {
            of = of.add(Expr::col(Alias::new(*c)).is_in(organisations.to_vec()));
        }
        cond = cond.add(of);
    }
    let select = Query::select()
        .column(Alias::new("id"))
        .column(Alias::new(column))
        .from(Alias::new(table))
        .cond_where(cond)
        .to_owned();
    let rows = db.query_all(&select).await?;
    let mut changed = Vec::new();
    for row in rows {
        let id: Uuid = row.try_get("", "id")?;
        if keep.contains(&id) {
            continue;
        }
        let Some(text) = row.try_get::<Option<String>>("", column)? else {
            continue;
        };
        if let Some(redacted) = redact(&text, needles, ERASED_NAME) {
            let update = Query::update()
                .table(Alias::new(table))
                .value(Alias::new(column), redacted)
                .and_where(Expr::col(Alias::new("id")).eq(id))
                .to_owned();
            db.execute(&update).await?;
            changed.push(id);
        }
    }
    Ok(changed)
}

/// LIKE treats `%` and `_` as wildcards; turning `%` into `_` (any one character, itself
/// included) only widens the candidates, which [`redact`] then filters exactly, without an
/// escape syntax that differs per backend.
fn escape_like(s: &str) -> String {
    s.replace('%', "_")
}

/// The user an actor reference names (`user/<id>`).
pub fn user_of_actor(actor: &str) -> Option<Uuid> {
    actor.strip_prefix("user/").and_then(|id| id.parse().ok())
}
