//! Matching, as refurbishers, associations and public bodies see it: the expected yield of a
//! lot, a refurbisher's matching view (its pipeline, the lines it would serve, the proposals of
//! the fair order) and their confirmation in one call, and a request's supply per line.
//! The rules are in `domain::matching`; docs/matching.md explains them.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeDelta};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::demand as dd;
use reemploi_domain::item::Category as DomCategory;
use reemploi_domain::matching::{self as m, YieldEstimate};
use reemploi_domain::organisation::{OrganisationKind, VerificationStatus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::access::BearerAuth;
use super::demand::{ReservationResponse, full_reservation};
use super::items::Category;
use super::types::ApiTags;
use crate::commands::By;
use crate::commands::matching::{self as cmd, Confirmed};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::demand as q;
use crate::store::entities::{item, organisation};
use crate::store::matching::{self as mq, DEFAULT_REACH_KM, device_spec};

/// What an estimate rests on: the refurbisher's own finished devices of the category and the
/// prior's pseudo-counts.
#[derive(Debug, Clone, Object)]
pub struct YieldBasis {
    /// Devices of the category it published (they reached `available`).
    pub available: u64,
    /// Devices of the category it sent to recycling without publishing them.
    pub recycled: u64,
    pub prior_available: u64,
    pub prior_recycled: u64,
    /// No finished device of this category yet: the prior alone.
    pub prior_only: bool,
}

/// The expected yield of one category.
#[derive(Debug, Clone, Object)]
pub struct CategoryYield {
    pub category: Category,
    /// Devices of the category on their way (awarded, collected, on the bench).
    pub in_pipeline: u64,
    /// Of those, how many are expected in the catalogue (rounded down).
    pub expected: u64,
    /// The expected share, in per mille.
    pub rate_permille: u32,
    pub basis: YieldBasis,
}

/// A lot's expected yield.
#[derive(Debug, Clone, Object)]
pub struct LotYieldResponse {
    pub lot_id: Uuid,
    /// The refurbisher whose claim was accepted; no estimate without one.
    pub refurbisher_id: Option<Uuid>,
    pub categories: Vec<CategoryYield>,
    /// The refurbisher's days from collection to publication (median of its history and a
    /// prior of 21).
    pub lead_time_days: Option<i64>,
    /// When the expected devices should be published, from today (none when none is expected).
    pub expected_by: Option<NaiveDate>,
}

/// An open line within reach of a refurbisher, with what it could take from it.
#[derive(Debug, Clone, Object)]
pub struct ServedLine {
    pub request_id: Uuid,
    pub line: i32,
    pub association_id: Uuid,
    pub category: Category,
    /// Devices the line still takes.
    pub wanted: u64,
    /// The refurbisher's published devices that fit the line.
    pub available_now: u64,
    /// Devices of its pipeline expected to fit the line (the estimate, not shared among lines).
    pub expected: u64,
    /// Of its expected devices, how many the fair order would give this line after the
    /// published ones (a forecast: nothing is held).
    pub forecast: u64,
    pub distance_km: Option<f64>,
}

/// Why the fair order proposes one device.
#[derive(Debug, Clone, Object)]
pub struct ProposedDevice {
    pub item_id: Uuid,
    /// 1 for the first device of the round.
    pub rank: u32,
    pub score: i64,
    pub need_points: u64,
    pub waiting_points: u64,
    pub received_points: u64,
    /// Devices the association received this year or was proposed earlier in this round.
    pub received: u64,
    /// The same, as a French sentence.
    pub reason: String,
}

/// Devices the fair order proposes to one line.
#[derive(Debug, Clone, Object)]
pub struct MatchProposal {
    pub request_id: Uuid,
    pub line: i32,
    pub association_id: Uuid,
    pub item_ids: Vec<Uuid>,
    pub devices: Vec<ProposedDevice>,
}

/// A refurbisher's matching view.
#[derive(Debug, Clone, Object)]
pub struct MatchingResponse {
    pub refurbisher_id: Uuid,
    /// The most devices one association may hold here at once.
    pub cap: u64,
    pub within_km: f64,
    /// Its pipeline's expected yield per category.
    pub pipeline: Vec<CategoryYield>,
    /// Open lines within reach that its published devices or its pipeline would serve.
    pub lines: Vec<ServedLine>,
    /// The fair order's proposals of its published devices, by rank of their first device.
    pub proposals: Vec<MatchProposal>,
    /// Where its expected devices would go next, in the same order (a forecast).
    pub expected_proposals: Vec<MatchProposal>,
}

/// One proposal to confirm, as the view made it or edited.
#[derive(Debug, Clone, Object)]
pub struct ConfirmProposal {
    pub request_id: Uuid,
    #[oai(validator(minimum(value = "1")))]
    pub line: i32,
    #[oai(validator(min_items = 1, max_items = 50, unique_items))]
    pub item_ids: Vec<Uuid>,
    /// Why the refurbisher changed what the fair order proposed, sent to the association.
    #[oai(validator(max_length = 500))]
    pub note: Option<String>,
}

/// Proposals the refurbisher confirms in one call: all are made, or none.
#[derive(Debug, Clone, Object)]
pub struct ConfirmProposalsRequest {
    /// The reach the view was computed with (100 km by default).
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub within_km: Option<f64>,
    #[oai(validator(min_items = 1, max_items = 200))]
    pub proposals: Vec<ConfirmProposal>,
}

/// The reservations (`proposed`) the confirmation made.
#[derive(Debug, Clone, Object)]
pub struct ConfirmProposalsResponse {
    pub items: Vec<ReservationResponse>,
}

/// What one refurbisher within reach offers a line.
#[derive(Debug, Clone, Object)]
pub struct RefurbisherSupply {
    pub refurbisher_id: Uuid,
    pub name: String,
    pub distance_km: f64,
    pub available_now: u64,
    pub expected: u64,
    pub rate_permille: u32,
    pub prior_only: bool,
    /// Days it takes from collection to publication (median of its history and a prior of 21).
    pub lead_time_days: i64,
    /// When the expected devices should be published, from today (none when none is expected).
    pub expected_by: Option<NaiveDate>,
}

/// A line's supply: "N available now, about M expected".
#[derive(Debug, Clone, Object)]
pub struct LineSupply {
    pub line: i32,
    pub category: Category,
    pub wanted: u64,
    pub available_now: u64,
    pub expected: u64,
    /// The same, as a French sentence.
    pub summary: String,
    pub refurbishers: Vec<RefurbisherSupply>,
}

/// A request's supply, line by line.
#[derive(Debug, Clone, Object)]
pub struct RequestSupplyResponse {
    pub request_id: Uuid,
    pub within_km: f64,
    pub lines: Vec<LineSupply>,
}

fn category_yield(category: DomCategory, in_pipeline: u64, e: &YieldEstimate) -> CategoryYield {
    CategoryYield {
        category: category.into(),
        in_pipeline,
        expected: e.expected(in_pipeline),
        rate_permille: e.rate_permille(),
        basis: YieldBasis {
            available: e.history.available,
            recycled: e.history.recycled,
            prior_available: e.prior.available,
            prior_recycled: e.prior.recycled,
            prior_only: e.prior_only(),
        },
    }
}

fn yields(
    history: &BTreeMap<DomCategory, m::Outcomes>,
    devices: &[item::Model],
) -> Vec<CategoryYield> {
    let mut per: BTreeMap<DomCategory, u64> = BTreeMap::new();
    for d in devices {
        *per.entry(DomCategory::parse(&d.category).unwrap_or(DomCategory::Other))
            .or_default() += 1;
    }
    per.into_iter()
        .map(|(c, n)| category_yield(c, n, &m::estimate(history, c)))
        .collect()
}

/// Allocations grouped by line, in rank order of each line's first device.
fn grouped(allocations: &[m::Allocation]) -> Vec<MatchProposal> {
    let mut out: Vec<MatchProposal> = Vec::new();
    for a in allocations {
        let (request_id, item_id) = (Uuid::from_u128(a.request), Uuid::from_u128(a.device));
        let device = ProposedDevice {
            item_id,
            rank: a.reason.rank,
            score: a.reason.score,
            need_points: a.reason.need_points,
            waiting_points: a.reason.waiting_points,
            received_points: a.reason.received_points,
            received: a.reason.received,
            reason: cmd::explain(a),
        };
        match out
            .iter_mut()
            .find(|p| p.request_id == request_id && p.line == a.position)
        {
            Some(p) => {
                p.item_ids.push(item_id);
                p.devices.push(device);
            }
            None => out.push(MatchProposal {
                request_id,
                line: a.position,
                association_id: Uuid::from_u128(a.association),
                item_ids: vec![item_id],
                devices: vec![device],
            }),
        }
    }
    out
}

fn reach(within_km: Option<f64>) -> f64 {
    within_km.unwrap_or(DEFAULT_REACH_KM)
}

/// Matching: expected supply, the fair order, and the supply of a request.
pub struct MatchingApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Demand")]
impl MatchingApi {
    /// A lot's expected yield
    ///
    /// Per category, how many of the lot's devices still on their way (awarded, collected, on
    /// the bench) are expected in the catalogue, from the history of the refurbisher whose
    /// claim was accepted and a prior for new refurbishers (docs/matching.md). For the public
    /// body of the lot and that refurbisher.
    #[oai(
        path = "/lots/:id/expected-yield",
        method = "get",
        operation_id = "get_lot_yield"
    )]
    async fn get_lot_yield(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<LotYieldResponse>> {
        let db = &self.state.db;
        let l = crate::store::lots::find(db, id.0).await?;
        let refurbisher = mq::lot_refurbisher(db, &l).await?;
        let mut related = vec![l.organisation_id];
        related.extend(refurbisher);
        auth.0.authorize_related("get_lot_yield", &related)?;
        let (categories, lead_time_days) = match refurbisher {
            Some(r) => (
                yields(
                    &mq::history(db, r).await?,
                    &mq::lot_pipeline(db, l.id).await?,
                ),
                Some(m::lead_time_days(&mq::lead_times(db, r).await?)),
            ),
            None => (Vec::new(), None),
        };
        let today = self.state.settings.today();
        let expected_by = lead_time_days
            .filter(|_| categories.iter().any(|c| c.expected > 0))
            .map(|d| today + TimeDelta::days(d));
        Ok(Json(LotYieldResponse {
            lot_id: l.id,
            refurbisher_id: refurbisher,
            categories,
            lead_time_days,
            expected_by,
        }))
    }

    /// A refurbisher's matching view
    ///
    /// Its pipeline's expected yield per category, the open request lines within `within_km`
    /// of its seat (100 km by default) that its published devices or its pipeline would serve,
    /// and the proposals the fair order makes of its published devices, each with why. Nothing
    /// is held until the refurbisher confirms (`confirm_proposals`).
    #[oai(
        path = "/organisations/:id/matching",
        method = "get",
        operation_id = "view_matching"
    )]
    async fn view_matching(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] within_km: Query<
            Option<f64>,
        >,
    ) -> ApiResult<Json<MatchingResponse>> {
        auth.0.authorize("view_matching", Some(id.0))?;
        let db = &self.state.db;
        let within_km = reach(within_km.0);
        let today = self.state.settings.today();
        let snap = mq::snapshot(db, id.0, within_km, today).await?;
        let pipeline_specs = snap.pipeline_specs();
        let published_specs: Vec<dd::DeviceSpec> = snap.published.iter().map(device_spec).collect();
        let plan = snap.plan(today);
        let mut lines = Vec::new();
        for l in &snap.lines {
            let spec = l.spec();
            let e = m::estimate(&snap.history, spec.category);
            let expected = m::expected_for_line(&spec, &pipeline_specs, &e);
            let available_now = published_specs
                .iter()
                .filter(|d| dd::fits(&spec, d))
                .count() as u64;
            let forecast = plan
                .expected
                .iter()
                .filter(|a| a.request == l.request.id.as_u128() && a.position == l.line.position)
                .count() as u64;
            if l.wanted == 0 || (expected == 0 && available_now == 0) {
                continue;
            }
            lines.push(ServedLine {
                request_id: l.request.id,
                line: l.line.position,
                association_id: l.request.association_id,
                category: spec.category.into(),
                wanted: l.wanted,
                available_now,
                expected,
                forecast,
                distance_km: l.distance_km,
            });
        }
        Ok(Json(MatchingResponse {
            refurbisher_id: id.0,
            cap: snap.cap,
            within_km,
            pipeline: yields(&snap.history, &snap.pipeline),
            lines,
            proposals: grouped(&plan.now),
            expected_proposals: grouped(&plan.expected),
        }))
    }

    /// Confirm proposals
    ///
    /// The refurbisher confirms the proposals of its matching view, as they are or edited
    /// (other devices, other lines), in one call: each becomes a `proposed` reservation
    /// through the same checks as a proposal by hand (line and its remaining quantity, the
    /// device available and held by the refurbisher, the fair-share cap, the law), recording
    /// why it was made, and the association is told by mail. All are made, or none. A device
    /// listed twice is refused with 422 `duplicate_device`.
    #[oai(
        path = "/organisations/:id/matching/proposals",
        method = "post",
        operation_id = "confirm_proposals"
    )]
    async fn confirm_proposals(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<ConfirmProposalsRequest>,
    ) -> ApiResult<Json<ConfirmProposalsResponse>> {
        let actor = auth
            .0
            .authorize("confirm_proposals", Some(id.0))?
            .ok_or_else(ApiError::forbidden)?;
        let db = &self.state.db;
        if q::organisation(db, id.0).await?.status != VerificationStatus::Verified.as_str() {
            return Err(ApiError::new(ErrorCode::OrganisationNotVerified));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in body.0.proposals.iter().enumerate() {
            for (j, d) in p.item_ids.iter().enumerate() {
                if !seen.insert(*d) {
                    return Err(ApiError::new(ErrorCode::DuplicateDevice).detail(
                        format!("L'équipement de proposals[{i}].item_ids[{j}] figure déjà dans une autre proposition."),
                        format!("The device of proposals[{i}].item_ids[{j}] is already in another proposal."),
                    ));
                }
            }
        }
        let input: Vec<Confirmed> = body
            .0
            .proposals
            .into_iter()
            .map(|p| Confirmed {
                request_id: p.request_id,
                line: p.line,
                item_ids: p.item_ids,
                note: p
                    .note
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty()),
            })
            .collect();
        let by = By {
            actor: Some(actor),
            actor_ref: auth.0.actor_ref(),
            organisation_id: id.0,
        };
        let made =
            cmd::confirm_proposals(&self.state, &by, &input, reach(body.0.within_km)).await?;
        let mut items = Vec::new();
        for r in made {
            items.push(full_reservation(&self.state, r).await?);
        }
        Ok(Json(ConfirmProposalsResponse { items }))
    }

    /// A request's supply
    ///
    /// For each line of one of the association's requests: how many published devices of
    /// verified refurbishers within `within_km` (100 km by default) fit it now, and about how
    /// many their pipelines are expected to yield, refurbisher by refurbisher.
    #[oai(
        path = "/requests/:id/supply",
        method = "get",
        operation_id = "get_request_supply"
    )]
    async fn get_request_supply(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] within_km: Query<
            Option<f64>,
        >,
    ) -> ApiResult<Json<RequestSupplyResponse>> {
        let db = &self.state.db;
        let r = q::request(db, id.0).await?;
        auth.0
            .authorize_related("get_request_supply", &[r.association_id])?;
        let today = self.state.settings.today();
        let within_km = reach(within_km.0);
        let place = mq::request_place(db, &r).await?;
        let mut near = Vec::new();
        if let Some(p) = place {
            for o in organisation::Entity::find()
                .filter(organisation::Column::Kind.eq(OrganisationKind::Refurbisher.as_str()))
                .filter(organisation::Column::Status.eq(VerificationStatus::Verified.as_str()))
                .all(db)
                .await?
            {
                let Some(km) = o.latitude.zip(o.longitude).map(|q| mq::distance_km(p, q)) else {
                    continue;
                };
                if km <= within_km {
                    let published: Vec<dd::DeviceSpec> = mq::published(db, o.id)
                        .await?
                        .iter()
                        .map(device_spec)
                        .collect();
                    let pipeline: Vec<dd::DeviceSpec> = mq::pipeline(db, o.id)
                        .await?
                        .iter()
                        .map(device_spec)
                        .collect();
                    let history = mq::history(db, o.id).await?;
                    let lead = m::lead_time_days(&mq::lead_times(db, o.id).await?);
                    near.push((km, o, history, published, pipeline, lead));
                }
            }
        }
        near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
        let mut lines = Vec::new();
        for l in mq::lines_of(db, r.clone(), None).await? {
            let spec = l.spec();
            let mut refurbishers = Vec::new();
            for (km, o, history, published, pipeline, lead) in &near {
                let e = m::estimate(history, spec.category);
                let available_now = published.iter().filter(|d| dd::fits(&spec, d)).count() as u64;
                let expected = m::expected_for_line(&spec, pipeline, &e);
                if available_now == 0 && expected == 0 {
                    continue;
                }
                refurbishers.push(RefurbisherSupply {
                    refurbisher_id: o.id,
                    name: o.name.clone(),
                    distance_km: (km * 10.0).round() / 10.0,
                    available_now,
                    expected,
                    rate_permille: e.rate_permille(),
                    prior_only: e.prior_only(),
                    lead_time_days: *lead,
                    expected_by: (expected > 0).then(|| today + TimeDelta::days(*lead)),
                });
            }
            let available_now = refurbishers.iter().map(|s| s.available_now).sum();
            let expected = refurbishers.iter().map(|s| s.expected).sum();
            let by = refurbishers
                .iter()
                .filter_map(|s| s.expected_by)
                .max()
                .map(|d| format!(" d'ici le {}", d.format("%d/%m/%Y")))
                .unwrap_or_default();
            let summary = match refurbishers.first() {
                None => {
                    "Aucun équipement disponible ni attendu à proximité pour l'instant.".to_owned()
                }
                Some(first) => format!(
                    "{available_now} disponible(s) maintenant, environ {expected} attendu(s){by} chez {}{}.",
                    first.name,
                    if refurbishers.len() > 1 {
                        format!(" et {} autre(s) reconditionneur(s)", refurbishers.len() - 1)
                    } else {
                        String::new()
                    }
                ),
            };
            lines.push(LineSupply {
                line: l.line.position,
                category: spec.category.into(),
                wanted: l.wanted,
                available_now,
                expected,
                summary,
                refurbishers,
            });
        }
        Ok(Json(RequestSupplyResponse {
            request_id: r.id,
            within_km,
            lines,
        }))
    }
}
