//! Impact and compliance reporting: factor sets, reports per organisation (JSON or CSV), the
//! legal re-use rate of a public body, public open data per territory, and the yearly PDF.
//!
//! Every figure is computed by `domain::impact` from the items' outcomes as recorded: a donated
//! device (handed over to an association) counts as re-used at its handover date, a recycled one
//! at its disposal date, with the weighed weight when there is one.

use std::collections::BTreeMap;

use crate::csv_out::{CsvOut, Dialect};

use chrono::{Datelike, NaiveDate};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json, PlainText};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use reemploi_domain::Invalid;
use reemploi_domain::impact::{self, Factor, FactorSet, ItemOutcome, ReformedItem, Tally, Totals};
use reemploi_domain::item::Category as DomCategory;
use reemploi_domain::organisation::OrganisationKind;
use sea_orm::ConnectionTrait;
use serde_json::json;
use uuid::Uuid;

use super::access::BearerAuth;
use super::items::Category;
use super::types::{ApiTags, Created, Negotiated};
use crate::commands::By;
use crate::commands::impact as commands;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::organisation;
use crate::store::impact::{self as store, Row, current_set, org, outcomes, reformed};

/// One impact factor, with its source.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FactorWire {
    pub category: Category,
    /// Manufacturing + distribution of a new device, kg CO2e; absent when not confirmed (the
    /// category is then left out of CO2e totals).
    pub co2e_kg: Option<f64>,
    /// Average weight, kg; absent when not confirmed.
    pub weight_kg: Option<f64>,
    #[oai(validator(max_length = 500))]
    pub source: String,
}

/// A set of impact factors.
#[derive(Debug, Clone, Object)]
pub struct FactorSetWire {
    #[oai(validator(max_length = 60))]
    pub version: String,
    pub published_on: NaiveDate,
    #[oai(validator(max_items = 50))]
    pub factors: Vec<FactorWire>,
}

/// The published factor sets, newest first; the first one is used by reports.
#[derive(Debug, Clone, Object)]
pub struct FactorSetList {
    pub items: Vec<FactorSetWire>,
}

/// Counts and impact of a group of outcomes.
#[derive(Debug, Clone, Object)]
pub struct TallyWire {
    pub donated: u32,
    pub recycled: u32,
    pub co2e_avoided_kg: f64,
    /// Donated devices of categories without a confirmed CO2e figure (left out of the total).
    pub items_without_co2e_factor: u32,
    pub reused_kg: f64,
    pub recycled_kg: f64,
    pub items_without_weight: u32,
}

fn tally(t: &Tally) -> TallyWire {
    let r = |v: f64| (v * 1000.0).round() / 1000.0;
    TallyWire {
        donated: t.donated,
        recycled: t.recycled,
        co2e_avoided_kg: r(t.co2e_avoided_kg),
        items_without_co2e_factor: t.items_without_co2e_factor,
        reused_kg: r(t.reused_kg),
        recycled_kg: r(t.recycled_kg),
        items_without_weight: t.reused_items_without_weight + t.recycled_items_without_weight,
    }
}

/// The tally of one category.
#[derive(Debug, Clone, Object)]
pub struct CategoryTallyWire {
    pub category: Category,
    #[oai(flatten)]
    pub tally: TallyWire,
}

/// Counts of one month.
#[derive(Debug, Clone, Object)]
pub struct MonthWire {
    pub month: u32,
    pub donated: u32,
    pub recycled: u32,
}

/// An impact report.
#[derive(Debug, Clone, Object)]
pub struct ImpactReport {
    pub organisation_id: Uuid,
    pub organisation_name: String,
    pub year: i32,
    /// How the figures are computed (see `docs/impact-method.md`).
    pub method: String,
    pub factor_set_version: String,
    pub overall: TallyWire,
    pub by_category: Vec<CategoryTallyWire>,
    pub by_month: Vec<MonthWire>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Format {
    Json,
    Csv,
}

/// A report as JSON or CSV.
#[derive(ApiResponse)]
pub enum ReportResponse {
    /// The report, as JSON, or with `format=csv` as CSV (one line per category, then the
    /// total).
    #[oai(status = 200)]
    Json(Json<ImpactReport>),
    /// The report as CSV (one line per category, then the total).
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(PlainText<String>),
}

/// An item counted, or left out, of the re-use rate.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RateItem {
    pub item_id: Uuid,
    pub inventory_number: String,
    pub category: Category,
    pub parted_on: NaiveDate,
    /// Why it is not in the numerator (`not_reused`, `no_prior_commitment`, `no_proof`,
    /// `over_ten_years`, `out_of_scope`).
    pub reason: Option<String>,
    /// The proof of re-use: the procès-verbal de remise's verification code.
    pub proof_code: Option<String>,
}

/// A public body's legal re-use rate for a year (décret n° 2023-266).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReuseRateReport {
    pub organisation_id: Uuid,
    pub year: i32,
    pub method: String,
    pub numerator: u32,
    pub denominator: u32,
    pub rate: Option<f64>,
    pub target: Option<f64>,
    pub meets_target: Option<bool>,
    pub counted: Vec<RateItem>,
    pub excluded: Vec<RateItem>,
}

/// Territorial level of open data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Level {
    Commune,
    Departement,
    Region,
}

/// One row of open data: a territory (of the public bodies the devices come from), a year.
#[derive(Debug, Clone, Object)]
pub struct OpenDataRow {
    pub level: Level,
    /// INSEE code of the commune, département or région.
    pub code: String,
    pub name: String,
    pub year: i32,
    pub donated: u32,
    pub recycled: u32,
    pub co2e_avoided_kg: f64,
    pub reused_kg: f64,
    pub recycled_kg: f64,
    pub factor_set_version: String,
}

/// Open data.
#[derive(Debug, Clone, Object)]
pub struct OpenData {
    pub method: String,
    pub items: Vec<OpenDataRow>,
}

/// Open data as JSON or CSV.
#[derive(ApiResponse)]
pub enum OpenDataResponse {
    /// The rows, as JSON, or with `format=csv` as CSV.
    #[oai(status = 200)]
    Json(Json<OpenData>),
    /// The rows as CSV.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(PlainText<String>),
}

/// A JSON document served byte for byte as committed (declared as a JSON object).
pub struct CommittedJson(pub &'static str);

impl poem_openapi::payload::Payload for CommittedJson {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        poem_openapi::registry::MetaSchemaRef::Inline(Box::new(
            poem_openapi::registry::MetaSchema::new("object"),
        ))
    }
}

impl poem::IntoResponse for CommittedJson {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .content_type(<Self as poem_openapi::payload::Payload>::CONTENT_TYPE)
            .body(self.0)
    }
}

/// A descriptor of the open data (Table Schema or Data Package), as committed.
#[derive(ApiResponse)]
pub enum OpenDataDescriptor {
    /// The JSON descriptor.
    #[oai(status = 200, content_type = "application/json; charset=utf-8")]
    Ok(CommittedJson),
}

/// Open data as CSV.
#[derive(ApiResponse)]
pub enum OpenDataCsv {
    /// The CSV, following `impact.schema.json`.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Ok(
        PlainText<String>,
        #[oai(header = "Content-Disposition")] String,
    ),
}

/// The first year of the whole open-data table (loi 3DS, décret n° 2022-791).
const FIRST_OPEN_DATA_YEAR: i32 = 2022;

/// `s` as one URL path segment: unreserved characters kept, every other byte percent-encoded.
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn factor_set_wire(m: crate::store::entities::impact_factor_set::Model) -> FactorSetWire {
    let factors: Vec<Factor> = serde_json::from_str(&m.factors).unwrap_or_default();
    FactorSetWire {
        version: m.version,
        published_on: m.published_on,
        factors: factors
            .into_iter()
            .map(|f| FactorWire {
                category: f.category.into(),
                co2e_kg: f.co2e_kg,
                weight_kg: f.weight_kg,
                source: f.source,
            })
            .collect(),
    }
}

/// A PDF.
#[derive(ApiResponse)]
pub enum ReportPdf {
    /// The yearly report.
    #[oai(status = 200, content_type = "application/pdf")]
    Ok(Binary<Vec<u8>>),
}

// ---------------------------------------------------------------------------------------------

fn to_outcome(r: &Row) -> ItemOutcome {
    ItemOutcome {
        category: DomCategory::parse(&r.item.category).unwrap_or(DomCategory::Other),
        outcome: r.outcome,
        weight_kg_measured: r.weight_kg,
        month: r.on.month(),
    }
}

fn report(org: &organisation::Model, year: i32, t: &Totals) -> ImpactReport {
    ImpactReport {
        organisation_id: org.id,
        organisation_name: org.name.clone(),
        year,
        method: t.method.clone(),
        factor_set_version: t.factor_set_version.clone(),
        overall: tally(&t.overall),
        by_category: t
            .by_category
            .iter()
            .map(|c| CategoryTallyWire {
                category: c.category.into(),
                tally: tally(&c.tally),
            })
            .collect(),
        by_month: t
            .by_month
            .iter()
            .map(|m| MonthWire {
                month: m.month,
                donated: m.donated,
                recycled: m.recycled,
            })
            .collect(),
    }
}

fn csv_report(r: &ImpactReport) -> String {
    let mut out = CsvOut::new(
        Dialect::Spreadsheet,
        &[
            "organisation",
            "annee",
            "categorie",
            "donnes",
            "recycles",
            "co2e_evite_kg",
            "kg_reemployes",
            "kg_recycles",
            "version_facteurs",
        ],
    );
    let mut line = |cat: &str, t: &TallyWire| {
        out.text(&r.organisation_name)
            .num(r.year)
            .text(cat)
            .num(t.donated)
            .num(t.recycled)
            .num(t.co2e_avoided_kg)
            .num(t.reused_kg)
            .num(t.recycled_kg)
            .text(&r.factor_set_version)
            .end_row();
    };
    for c in &r.by_category {
        line(DomCategory::from(c.category).as_str(), &c.tally);
    }
    line("total", &r.overall);
    out.finish()
}

fn check_year(year: i32) -> ApiResult<i32> {
    if (2000..=2100).contains(&year) {
        Ok(year)
    } else {
        Err(ApiError::field("year", Invalid::OutOfRange))
    }
}

async fn reuse_rate_of<C: ConnectionTrait>(
    db: &C,
    body: Uuid,
    year: i32,
) -> ApiResult<ReuseRateReport> {
    let items = reformed(db, body).await?;
    let inputs: Vec<ReformedItem> = items.iter().map(|(r, _, _)| r.clone()).collect();
    let rate = impact::reuse_rate(year, &inputs);
    let find = |id: &str| items.iter().find(|(r, _, _)| r.id == id);
    let wire = |id: &str, reason: Option<String>| -> Option<RateItem> {
        let (r, m, proof) = find(id)?;
        Some(RateItem {
            item_id: m.id,
            inventory_number: m.inventory_number.clone(),
            category: r.category.into(),
            parted_on: r.parted_on,
            reason,
            proof_code: proof.clone(),
        })
    };
    Ok(ReuseRateReport {
        organisation_id: body,
        year,
        method: rate.method.clone(),
        numerator: rate.numerator,
        denominator: rate.denominator,
        rate: rate.rate.map(|r| (r * 10000.0).round() / 10000.0),
        target: rate.target,
        meets_target: rate.meets_target,
        counted: rate
            .counted
            .iter()
            .filter_map(|id| wire(id, None))
            .collect(),
        excluded: rate
            .excluded
            .iter()
            .filter(|e| e.reason.code() != "other_year")
            .filter_map(|e| wire(&e.id, Some(e.reason.code().to_owned())))
            .collect(),
    })
}

fn percent(v: f64) -> String {
    let p = (v * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{}\u{00A0}%", p as i64)
    } else {
        format!("{}\u{00A0}%", format!("{p:.1}").replace('.', ","))
    }
}

/// The operator organisation a caller acts for (the nil id when it has none).
fn operator_of(caller: &super::access::Caller) -> Uuid {
    caller
        .memberships
        .iter()
        .find(|m| m.kind == OrganisationKind::Operator)
        .map_or(Uuid::nil(), |m| m.organisation_id)
}

/// Open data for `year` at `level`, one territory when `code` is given.
async fn open_data<C: ConnectionTrait>(
    db: &C,
    year: i32,
    level: Level,
    code: Option<String>,
) -> ApiResult<OpenData> {
    let set = current_set(db).await?;
    let rows = outcomes(db, year).await?;
    let mut bodies: BTreeMap<Uuid, organisation::Model> = BTreeMap::new();
    let mut groups: BTreeMap<(String, String), Vec<ItemOutcome>> = BTreeMap::new();
    for r in &rows {
        let body = match bodies.get(&r.item.organisation_id) {
            Some(b) => b.clone(),
            None => {
                let b = org(db, r.item.organisation_id).await?;
                bodies.insert(b.id, b.clone());
                b
            }
        };
        let (code, name) = match level {
            Level::Commune => (body.insee_code.clone(), body.city.clone()),
            Level::Departement => (
                body.departement.clone(),
                reemploi_domain::geo::departement_name(&body.departement)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            Level::Region => {
                let code = impact::region_of_departement(&body.departement)
                    .unwrap_or_default()
                    .to_owned();
                let name = impact::region_name(&code).unwrap_or_default().to_owned();
                (code, name)
            }
        };
        groups.entry((code, name)).or_default().push(to_outcome(r));
    }
    let wanted = code.map(|c| c.trim().to_uppercase());
    let items: Vec<OpenDataRow> = groups
        .into_iter()
        .filter(|((c, _), _)| wanted.as_ref().is_none_or(|w| w == c))
        .map(|((code, name), rows)| {
            let t = impact::compute_totals(&set, &rows);
            let w = tally(&t.overall);
            OpenDataRow {
                level,
                code,
                name,
                year,
                donated: w.donated,
                recycled: w.recycled,
                co2e_avoided_kg: w.co2e_avoided_kg,
                reused_kg: w.reused_kg,
                recycled_kg: w.recycled_kg,
                factor_set_version: t.factor_set_version,
            }
        })
        .collect();
    let data = OpenData {
        method: impact::IMPACT_METHOD.to_owned(),
        items,
    };
    Ok(data)
}

/// The Table Schema of the open-data CSV (committed in `docs/open-data/`, served as it is).
pub const OPEN_DATA_SCHEMA: &str = include_str!("../../../docs/open-data/impact.schema.json");
/// The Data Package describing the open-data resources (Licence Ouverte 2.0).
pub const OPEN_DATA_PACKAGE: &str = include_str!("../../../docs/open-data/datapackage.json");

/// Open data as CSV, exactly as its Table Schema says: UTF-8, commas, dot decimals, INSEE codes
/// as text, French headers.
fn open_data_csv(data: &OpenData) -> String {
    open_data_csv_of(std::slice::from_ref(data))
}

/// Several tables of open data (years, levels) as one CSV.
fn open_data_csv_of(tables: &[OpenData]) -> String {
    let mut out = CsvOut::new(
        Dialect::Data(b','),
        &[
            "niveau",
            "code",
            "nom",
            "annee",
            "donnes",
            "recycles",
            "co2e_evite_kg",
            "kg_reemployes",
            "kg_recycles",
            "version_facteurs",
        ],
    );
    for r in tables.iter().flat_map(|t| &t.items) {
        let level = match r.level {
            Level::Commune => "commune",
            Level::Departement => "departement",
            Level::Region => "region",
        };
        out.text(level)
            .text(&r.code)
            .text(&r.name)
            .num(r.year)
            .num(r.donated)
            .num(r.recycled)
            .num(r.co2e_avoided_kg)
            .num(r.reused_kg)
            .num(r.recycled_kg)
            .text(&r.factor_set_version)
            .end_row();
    }
    out.finish()
}

/// What the yearly report of public body `o` prints: figures, months, re-use rate, conventions.
async fn yearly_report_data<C: ConnectionTrait>(
    db: &C,
    o: &organisation::Model,
    year: i32,
    today: NaiveDate,
) -> ApiResult<serde_json::Value> {
    let rows: Vec<ItemOutcome> = outcomes(db, year)
        .await?
        .iter()
        .filter(|r| r.item.organisation_id == o.id)
        .map(to_outcome)
        .collect();
    let set = current_set(db).await?;
    let totals = impact::compute_totals(&set, &rows);
    let rate = reuse_rate_of(db, o.id, year).await?;
    let conventions = crate::store::documents::conventions(db).await?;
    let mut listed: Vec<serde_json::Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for d in conventions.iter().rev() {
        let parties: Vec<crate::documents::Party> =
            serde_json::from_str(&d.parties).unwrap_or_default();
        if d.created_at.year() != year
            || parties.first().map(|p| p.organisation_id) != Some(o.id)
            || !seen.insert(d.series_id)
        {
            continue;
        }
        let other = match parties.get(1) {
            Some(p) => org(db, p.organisation_id).await?.name,
            None => String::new(),
        };
        listed.push(json!({
            "title": d.title, "beneficiary": other, "code": d.code,
            "date": crate::documents::short_date(d.created_at.date_naive()),
            "signed": if d.signed || d.scan_sha256.is_some() { "signée" } else { "à signer" },
        }));
    }
    let max = totals
        .by_month
        .iter()
        .map(|m| m.donated.max(m.recycled))
        .max()
        .unwrap_or(0)
        .max(1);
    let data = json!({
        "title": format!("Rapport annuel de réemploi {year}"),
        "body": o.name,
        "year": year,
        "date": crate::documents::long_date(today),
        "donated": totals.overall.donated,
        "recycled": totals.overall.recycled,
        "co2e": format!("{:.1}", totals.overall.co2e_avoided_kg).replace('.', ","),
        "without_factor": totals.overall.items_without_co2e_factor,
        "reused_kg": format!("{:.1}", totals.overall.reused_kg).replace('.', ","),
        "recycled_kg": format!("{:.1}", totals.overall.recycled_kg).replace('.', ","),
        "factor_set": totals.factor_set_version,
        "method": totals.method,
        "months": totals.by_month.iter().map(|m| json!({ "m": m.month, "d": m.donated, "r": m.recycled })).collect::<Vec<_>>(),
        "max": max,
        "rate": rate.rate.map(percent).unwrap_or_else(|| "sans objet (aucun équipement réformé)".into()),
        "target": rate.target.map(percent).unwrap_or_else(|| "aucun".into()),
        "numerator": rate.numerator,
        "denominator": rate.denominator,
        "meets": match rate.meets_target { Some(true) => "atteint", Some(false) => "non atteint", None => "sans objet" },
        "conventions": listed,
    });
    Ok(data)
}

/// Impact endpoints.
pub struct ImpactApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Impact")]
impl ImpactApi {
    /// List impact factor sets
    ///
    /// Newest first; reports use the first. Each factor names its source; a category without a
    /// confirmed figure has none and is left out of CO2e totals.
    #[oai(
        path = "/impact/factor-sets",
        method = "get",
        operation_id = "list_factor_sets"
    )]
    async fn list_factor_sets(&self) -> ApiResult<Json<FactorSetList>> {
        let sets = store::factor_sets(&self.state.db).await?;
        Ok(Json(FactorSetList {
            items: sets.into_iter().map(factor_set_wire).collect(),
        }))
    }

    /// Read an impact factor set
    ///
    /// One published version, by its name (`ademe-arcep-2022.1`).
    #[oai(
        path = "/impact/factor-sets/:version",
        method = "get",
        operation_id = "get_factor_set"
    )]
    async fn get_factor_set(
        &self,
        #[oai(validator(max_length = 60))] version: Path<String>,
    ) -> ApiResult<Json<FactorSetWire>> {
        let m = store::factor_set(&self.state.db, &version.0).await?;
        Ok(Json(factor_set_wire(m)))
    }

    /// Publish an impact factor set
    ///
    /// The operator publishes a new version; reports computed afterwards use it and say so.
    #[oai(
        path = "/impact/factor-sets",
        method = "post",
        operation_id = "publish_factor_set"
    )]
    async fn publish_factor_set(
        &self,
        auth: BearerAuth,
        body: Json<FactorSetWire>,
    ) -> ApiResult<Created<FactorSetWire>> {
        let actor = auth.0.authorize("publish_factor_set", None)?;
        let b = body.0;
        let set = FactorSet {
            version: b.version.trim().to_owned(),
            published_on: b.published_on,
            factors: b
                .factors
                .iter()
                .map(|f| Factor {
                    category: f.category.into(),
                    co2e_kg: f.co2e_kg,
                    weight_kg: f.weight_kg,
                    source: f.source.trim().to_owned(),
                })
                .collect(),
        };
        let by = By {
            actor,
            actor_ref: auth.0.actor_ref(),
            organisation_id: operator_of(&auth.0),
        };
        commands::publish_factor_set(&self.state.db, &by, &set).await?;
        Ok(Created::Created(
            Json(FactorSetWire {
                version: set.version.clone(),
                published_on: set.published_on,
                factors: b.factors,
            }),
            format!("/v1/impact/factor-sets/{}", path_segment(&set.version)),
        ))
    }

    /// An organisation's impact report
    ///
    /// For a public body, the devices that came from it; for a refurbisher, those it handed over
    /// or recycled; for an association, those it received. Counts per category, outcome and
    /// month, CO2e avoided and kilograms, with the method and factor-set version. `format=csv`
    /// for a spreadsheet.
    #[oai(
        path = "/organisations/:id/impact",
        method = "get",
        operation_id = "get_impact_report"
    )]
    async fn get_impact_report(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        year: Query<i32>,
        format: Query<Option<Format>>,
    ) -> ApiResult<Negotiated<ReportResponse>> {
        auth.0.authorize("get_impact_report", Some(id.0))?;
        let year = check_year(year.0)?;
        let db = &self.state.db;
        let o = org(db, id.0).await?;
        let kind = OrganisationKind::parse(&o.kind);
        let rows: Vec<ItemOutcome> = outcomes(db, year)
            .await?
            .iter()
            .filter(|r| match kind {
                Some(OrganisationKind::PublicBody) => r.item.organisation_id == o.id,
                Some(OrganisationKind::Refurbisher) => r.actor == o.id,
                Some(OrganisationKind::Association) => r.association == Some(o.id),
                _ => false,
            })
            .map(to_outcome)
            .collect();
        let totals = impact::compute_totals(&current_set(db).await?, &rows);
        let r = report(&o, year, &totals);
        Ok(Negotiated(match format.0.unwrap_or(Format::Json) {
            Format::Json => ReportResponse::Json(Json(r)),
            Format::Csv => ReportResponse::Csv(PlainText(csv_report(&r))),
        }))
    }

    /// A public body's legal re-use rate
    ///
    /// Décret n° 2023-266: devices the body parted with during the year, screens and small IT
    /// and telecom equipment, not over 10 years old; those re-used with the taker's prior
    /// commitment (the convention signed by both parties, or the association's commitment) and
    /// a proof (the procès-verbal de remise) count. Lists every device and why it counts or not.
    #[oai(
        path = "/organisations/:id/reuse-rate",
        method = "get",
        operation_id = "get_reuse_rate"
    )]
    async fn get_reuse_rate(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        year: Query<i32>,
    ) -> ApiResult<Json<ReuseRateReport>> {
        auth.0.authorize("get_reuse_rate", Some(id.0))?;
        let year = check_year(year.0)?;
        let o = org(&self.state.db, id.0).await?;
        // Only a public body has a legal re-use rate: for another organisation there is none.
        if o.kind != OrganisationKind::PublicBody.as_str() {
            return Err(ApiError::new(ErrorCode::NotFound).detail(
                "Le taux de réemploi légal concerne les organismes publics.",
                "The legal re-use rate concerns public bodies.",
            ));
        }
        Ok(Json(reuse_rate_of(&self.state.db, o.id, year).await?))
    }

    /// Open data: impact per territory
    ///
    /// Public. Devices re-used and recycled, CO2e avoided and kilograms, per commune,
    /// département or région of the public bodies they came from, for a year. Only aggregates:
    /// no person, address, e-mail or phone. `code` keeps one territory; `format=csv` for CSV.
    #[oai(
        path = "/open-data/impact",
        method = "get",
        operation_id = "get_open_data"
    )]
    async fn get_open_data(
        &self,
        year: Query<i32>,
        level: Query<Option<Level>>,
        #[oai(validator(max_length = 5))] code: Query<Option<String>>,
        format: Query<Option<Format>>,
    ) -> ApiResult<Negotiated<OpenDataResponse>> {
        let year = check_year(year.0)?;
        let level = level.0.unwrap_or(Level::Departement);
        let data = open_data(&self.state.db, year, level, code.0).await?;
        Ok(Negotiated(match format.0.unwrap_or(Format::Json) {
            Format::Json => OpenDataResponse::Json(Json(data)),
            Format::Csv => OpenDataResponse::Csv(PlainText(open_data_csv(&data))),
        }))
    }

    /// Open data: the Table Schema of the CSV
    ///
    /// Public. The Table Schema (frictionless specs) of the open-data CSV: fields, types,
    /// constraints and French descriptions. The same file as `docs/open-data/impact.schema.json`.
    #[oai(
        path = "/open-data/impact.schema.json",
        method = "get",
        operation_id = "get_open_data_schema"
    )]
    async fn get_open_data_schema(&self) -> ApiResult<OpenDataDescriptor> {
        Ok(OpenDataDescriptor::Ok(CommittedJson(OPEN_DATA_SCHEMA)))
    }

    /// Open data: the Data Package
    ///
    /// Public. The `datapackage.json` describing the open-data resources (relative to this
    /// address: `impact.csv` and its schema `impact.schema.json`), under the Licence Ouverte 2.0
    /// (Etalab). The same file as `docs/open-data/datapackage.json`.
    #[oai(
        path = "/open-data/datapackage.json",
        method = "get",
        operation_id = "get_open_data_package"
    )]
    async fn get_open_data_package(&self) -> ApiResult<OpenDataDescriptor> {
        Ok(OpenDataDescriptor::Ok(CommittedJson(OPEN_DATA_PACKAGE)))
    }

    /// Open data: the whole table (CSV)
    ///
    /// Public. Every level (commune, département, région) and every year from 2022 (loi 3DS) to
    /// the current one, as one CSV following `impact.schema.json`.
    #[oai(
        path = "/open-data/impact.csv",
        method = "get",
        operation_id = "get_open_data_table"
    )]
    async fn get_open_data_table(&self) -> ApiResult<OpenDataCsv> {
        let db = &self.state.db;
        let mut tables = Vec::new();
        for year in FIRST_OPEN_DATA_YEAR..=self.state.settings.today().year() {
            for level in [Level::Commune, Level::Departement, Level::Region] {
                tables.push(open_data(db, year, level, None).await?);
            }
        }
        Ok(OpenDataCsv::Ok(
            PlainText(open_data_csv_of(&tables)),
            "inline; filename=\"reemploi-impact.csv\"".into(),
        ))
    }

    /// Open data: one territory's yearly snapshot (CSV)
    ///
    /// Public. A stable address per territory and year for a data portal to harvest
    /// (`/v1/open-data/impact/departement/41/2026`): the row of that territory for that year,
    /// following `impact.schema.json` (only the header when nothing was given away or recycled).
    #[oai(
        path = "/open-data/impact/:level/:code/:year",
        method = "get",
        operation_id = "get_open_data_snapshot"
    )]
    async fn get_open_data_snapshot(
        &self,
        level: Path<Level>,
        #[oai(validator(max_length = 5))] code: Path<String>,
        year: Path<i32>,
    ) -> ApiResult<OpenDataCsv> {
        let year = check_year(year.0)?;
        let code = code.0.trim().to_uppercase();
        let level_name = match level.0 {
            Level::Commune => "commune",
            Level::Departement => "departement",
            Level::Region => "region",
        };
        let data = open_data(&self.state.db, year, level.0, Some(code.clone())).await?;
        Ok(OpenDataCsv::Ok(
            PlainText(open_data_csv(&data)),
            format!("inline; filename=\"reemploi-impact-{level_name}-{code}-{year}.csv\""),
        ))
    }

    /// A public body's yearly report (PDF)
    ///
    /// Figures, a chart of devices by outcome and month, the re-use rate against the year's
    /// target, and the list of conventions: an annex for its responsible-digital strategy.
    #[oai(
        path = "/organisations/:id/yearly-report",
        method = "get",
        operation_id = "get_yearly_report"
    )]
    async fn get_yearly_report(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        year: Query<i32>,
    ) -> ApiResult<ReportPdf> {
        auth.0.authorize("get_yearly_report", Some(id.0))?;
        let year = check_year(year.0)?;
        let db = &self.state.db;
        let o = org(db, id.0).await?;
        if o.kind != OrganisationKind::PublicBody.as_str() {
            return Err(ApiError::new(ErrorCode::NotFound).detail(
                "Le rapport annuel concerne les organismes publics.",
                "The yearly report concerns public bodies.",
            ));
        }
        let data = yearly_report_data(db, &o, year, self.state.settings.today()).await?;
        let renderer = self.state.renderer.clone();
        let pdf = tokio::task::spawn_blocking(move || {
            renderer.render(
                include_str!("../../templates/rapport_annuel.typ"),
                &data,
                "",
                "rapport-annuel",
            )
        })
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal))?
        .map_err(|e| {
            tracing::error!(error = %e, "yearly report rendering failed");
            ApiError::new(ErrorCode::Unavailable)
        })?;
        Ok(ReportPdf::Ok(Binary(pdf)))
    }
}
